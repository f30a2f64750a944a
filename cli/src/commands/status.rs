//! `weka status`: what wekad reports about itself.

use weka::api::{Request, Response, Status};

use super::{print, unexpected, Ctx, Failure};
use crate::output;

pub fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let status = match ctx.call(Request::Status)? {
        Response::Status(s) => s,
        other => return Err(unexpected(&other)),
    };
    if ctx.json {
        return print(&output::pretty(
            &serde_json::to_value(&status).map_err(|e| Failure::Unexpected(e.to_string()))?,
        ));
    }
    print(&render(&status))
}

fn render(s: &Status) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let uptime = humantime::format_duration(std::time::Duration::from_secs(s.uptime_secs));
    let mut lines = vec![
        format!("wekad {}", s.version),
        format!("  uptime:      {uptime}"),
        format!("  data:        {}", s.data),
        format!(
            "  mount:       {} ({})",
            s.mount,
            if s.mounted { "mounted" } else { "not mounted" }
        ),
        format!(
            "  passthrough: {}",
            if s.passthrough { "on" } else { "off" }
        ),
        format!(
            "  requests:    {}",
            if s.io_uring {
                "io_uring (one queue per CPU)"
            } else {
                "/dev/fuse"
            }
        ),
        format!("  state:       {}", s.state),
        format!("  socket:      {}", s.socket),
        format!("  s3:          {}", opt(&s.s3_endpoint)),
        format!("  metrics:     {}", opt(&s.metrics_endpoint)),
        format!(
            "  users: {}  policies: {}  buckets: {}",
            s.users, s.policies, s.buckets
        ),
    ];
    lines.extend(s.counters.iter().map(|(k, v)| format!("  {k}: {v}")));
    lines.join("\n") + "\n"
}
