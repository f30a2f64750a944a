//! A validated policy statement and the test "does it apply to this request".
//!
//! Invariant: a statement is only built by `parse`, so its actions are supported ones,
//! its resources are `arn:aws:s3:::` patterns and its conditions are known operators on
//! known keys. An `Allow` statement whose policy variables cannot all be resolved for a
//! request (for instance `${aws:username}` on an anonymous request) never applies, so an
//! unknown value can never grant; a `Deny` statement is evaluated with the unresolved
//! variable matching nothing. This module performs no I/O.

use super::action::{Action, ActionSet};
use super::condition::Condition;
use super::context::{CondKey, RequestContext};
use super::glob::Pattern;

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Resource` (any pattern matches) or `NotResource` (no pattern matches).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resources {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<Pattern>,
}

impl Resources {
    fn matches(&self, resource: &str, ctx: &RequestContext) -> bool {
        self.patterns.iter().any(|p| p.matches(resource, ctx)) != self.negated
    }
}

/// One entry of `Statement`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `Action`, or the complement of `NotAction`, resolved to supported actions.
    pub(crate) actions: ActionSet,
    pub(crate) resources: Resources,
    pub(crate) conditions: Vec<Condition>,
    /// Every policy variable used in resources and conditions.
    pub(crate) variables: Vec<CondKey>,
}

impl Statement {
    /// Collects the variables used by the statement's patterns.
    pub(crate) fn collect_variables(&mut self) {
        let mut vars: Vec<CondKey> = Vec::new();
        let used = self
            .resources
            .patterns
            .iter()
            .flat_map(Pattern::variables)
            .chain(self.conditions.iter().flat_map(Condition::variables));
        for key in used {
            if !vars.contains(key) {
                vars.push(key.clone());
            }
        }
        self.variables = vars;
    }

    /// Whether the statement applies to `action` on `resource` in this request.
    pub(crate) fn applies(&self, action: Action, resource: &str, ctx: &RequestContext) -> bool {
        self.actions.contains(action)
            && self.variables_resolved(ctx)
            && self.resources.matches(resource, ctx)
            && self.conditions.iter().all(|c| c.holds(ctx))
    }

    fn variables_resolved(&self, ctx: &RequestContext) -> bool {
        self.effect == Effect::Deny || self.variables.iter().all(|k| ctx.variable(k).is_some())
    }
}
