//! Wildcard patterns (`*`, `?`) with policy variables (`${aws:username}`).
//!
//! Invariants:
//! - Matching is linear in memory and O(pattern × text) in time: one backtracking point
//!   (the last `*`), never a recursion, so no pattern can make evaluation exponential.
//! - `?` matches exactly one character (a whole UTF-8 scalar), `*` any run of characters.
//! - Variables are substituted after the pattern is parsed, as literal text: a user named
//!   `a*` matches only the characters `a*`, so a variable value can never widen a match.
//!   `${*}`, `${?}` and `${$}` stand for the literal characters.
//!
//! This module performs no I/O.

use super::context::{CondKey, RequestContext};
use std::borrow::Cow;

/// One element of a pattern without variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, matched byte for byte.
    Lit(String),
    /// `?`: exactly one character.
    Any,
    /// `*`: any run of characters, the empty one included.
    Star,
}

/// A borrowed view of a pattern element, what the matcher walks.
#[derive(Debug, Clone, Copy)]
enum Tok<'a> {
    Lit(&'a str),
    Any,
    Star,
}

trait AsTok {
    fn tok(&self) -> Tok<'_>;
}

impl AsTok for Piece {
    fn tok(&self) -> Tok<'_> {
        match self {
            Piece::Lit(s) => Tok::Lit(s),
            Piece::Any => Tok::Any,
            Piece::Star => Tok::Star,
        }
    }
}

/// A pattern element after variables were resolved against a request.
enum Resolved<'a> {
    Lit(Cow<'a, str>),
    Any,
    Star,
}

impl AsTok for Resolved<'_> {
    fn tok(&self) -> Tok<'_> {
        match self {
            Resolved::Lit(s) => Tok::Lit(s),
            Resolved::Any => Tok::Any,
            Resolved::Star => Tok::Star,
        }
    }
}

/// Compiles a glob without variables: `*` and `?` are wildcards, everything else literal.
pub fn compile(pattern: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for c in pattern.chars() {
        match c {
            '*' => push_star(&mut pieces),
            '?' => pieces.push(Piece::Any),
            c => push_char(&mut pieces, c),
        }
    }
    pieces
}

fn push_star(pieces: &mut Vec<Piece>) {
    // Consecutive stars match the same as one.
    if pieces.last() != Some(&Piece::Star) {
        pieces.push(Piece::Star);
    }
}

fn push_char(pieces: &mut Vec<Piece>, c: char) {
    match pieces.last_mut() {
        Some(Piece::Lit(s)) => s.push(c),
        _ => pieces.push(Piece::Lit(c.to_string())),
    }
}

/// Whether `text` matches the compiled glob.
pub fn matches(pieces: &[Piece], text: &str) -> bool {
    match_toks(pieces, text)
}

/// Length in bytes of the character starting at byte `at` (1 past the end).
fn char_len(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}

/// The matcher: greedy, with a single backtracking point at the last `*` seen. This is
/// correct for `*`/`?` globs because a later star can absorb anything an earlier one could.
fn match_toks<T: AsTok>(toks: &[T], text: &str) -> bool {
    match_counting(toks, text, &mut 0)
}

/// [`match_toks`], adding to `steps` one per turn of its loop: the work the module's
/// O(pattern × text) invariant bounds, which tests check without a clock.
fn match_counting<T: AsTok>(toks: &[T], text: &str, steps: &mut u64) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index after the star, text index where the star's match currently ends)
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        *steps += 1;
        if step(toks, text, &mut p, &mut t, &mut backtrack) {
            continue;
        }
        if p == toks.len() && t == text.len() {
            return true;
        }
        match backtrack {
            Some((after_star, end)) if end < text.len() => {
                let next = end + char_len(text, end);
                backtrack = Some((after_star, next));
                (p, t) = (after_star, next);
            }
            _ => return false,
        }
    }
}

/// Advances over one pattern element if it matches at `t`; false on mismatch or at the end.
fn step<T: AsTok>(
    toks: &[T],
    text: &str,
    p: &mut usize,
    t: &mut usize,
    backtrack: &mut Option<(usize, usize)>,
) -> bool {
    let Some(tok) = toks.get(*p) else {
        return false;
    };
    let rest = text.get(*t..).unwrap_or("");
    let advance = match tok.tok() {
        Tok::Star => {
            *backtrack = Some((*p + 1, *t));
            0
        }
        Tok::Any if !rest.is_empty() => char_len(text, *t),
        Tok::Lit(lit) if rest.starts_with(lit) => lit.len(),
        Tok::Any | Tok::Lit(_) => return false,
    };
    *p += 1;
    *t += advance;
    true
}

/// A pattern element that may be a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Piece(Piece),
    Var(CondKey),
}

/// A pattern from a policy: a resource ARN or a condition value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// No variables: matched without allocating.
    Plain(Vec<Piece>),
    /// Contains `${...}` variables, resolved per request.
    WithVars(Vec<SegBox>),
}

/// Opaque element of a pattern with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegBox(Seg);

/// How to read a pattern's text.
#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    /// `*` and `?` are wildcards (resources, `StringLike`); otherwise literal (`StringEquals`).
    pub glob: bool,
    /// `${...}` are variables (policy `Version` 2012-10-17); otherwise literal.
    pub vars: bool,
}

impl Pattern {
    /// Parses `text`. Errors name the offending variable.
    pub fn parse(text: &str, syntax: Syntax) -> Result<Pattern, String> {
        let mut segs: Vec<Seg> = Vec::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.vars && rest.starts_with("${") {
                let (seg, after) = parse_variable(rest)?;
                push_seg(&mut segs, seg);
                rest = after;
                continue;
            }
            let seg = match c {
                '*' if syntax.glob => Seg::Piece(Piece::Star),
                '?' if syntax.glob => Seg::Piece(Piece::Any),
                c => Seg::Piece(Piece::Lit(c.to_string())),
            };
            push_seg(&mut segs, seg);
            rest = &rest[c.len_utf8()..];
        }
        Ok(Pattern::from_segs(segs))
    }

    fn from_segs(segs: Vec<Seg>) -> Pattern {
        if segs.iter().any(|s| matches!(s, Seg::Var(_))) {
            return Pattern::WithVars(segs.into_iter().map(SegBox).collect());
        }
        let pieces = segs
            .into_iter()
            .filter_map(|s| match s {
                Seg::Piece(p) => Some(p),
                Seg::Var(_) => None,
            })
            .collect();
        Pattern::Plain(pieces)
    }

    /// The variables the pattern uses.
    pub fn variables(&self) -> impl Iterator<Item = &CondKey> {
        let segs: &[SegBox] = match self {
            Pattern::Plain(_) => &[],
            Pattern::WithVars(segs) => segs,
        };
        segs.iter().filter_map(|s| match &s.0 {
            Seg::Var(key) => Some(key),
            Seg::Piece(_) => None,
        })
    }

    /// Whether `text` matches; false when a variable has no value in `ctx`.
    pub fn matches(&self, text: &str, ctx: &RequestContext) -> bool {
        match self {
            Pattern::Plain(pieces) => match_toks(pieces, text),
            Pattern::WithVars(segs) => {
                resolve(segs, ctx, false).is_some_and(|toks| match_toks(&toks, text))
            }
        }
    }

    /// Like `matches`, ignoring case (both sides lowercased, Unicode-aware).
    pub fn matches_ignore_case(&self, text: &str, ctx: &RequestContext) -> bool {
        let text = text.to_lowercase();
        match self {
            Pattern::Plain(pieces) => {
                let segs: Vec<SegBox> = pieces
                    .iter()
                    .cloned()
                    .map(|p| SegBox(Seg::Piece(p)))
                    .collect();
                resolve(&segs, ctx, true).is_some_and(|toks| match_toks(&toks, &text))
            }
            Pattern::WithVars(segs) => {
                resolve(segs, ctx, true).is_some_and(|toks| match_toks(&toks, &text))
            }
        }
    }
}

fn push_seg(segs: &mut Vec<Seg>, seg: Seg) {
    match (segs.last_mut(), seg) {
        (Some(Seg::Piece(Piece::Lit(s))), Seg::Piece(Piece::Lit(more))) => s.push_str(&more),
        (Some(Seg::Piece(Piece::Star)), Seg::Piece(Piece::Star)) => {}
        (_, seg) => segs.push(seg),
    }
}

/// Parses `${name}` at the start of `text`; returns the element and the text after it.
fn parse_variable(text: &str) -> Result<(Seg, &str), String> {
    let body = &text[2..];
    let Some(end) = body.find('}') else {
        return Err(format!("unterminated policy variable in {text:?}"));
    };
    let name = &body[..end];
    let seg = match name {
        "*" | "?" | "$" => Seg::Piece(Piece::Lit(name.to_string())),
        _ => match CondKey::parse(name) {
            Some(key) if key.is_variable() => Seg::Var(key),
            _ => return Err(format!("unknown policy variable ${{{name}}}")),
        },
    };
    Ok((seg, &body[end + 1..]))
}

fn resolve<'a>(
    segs: &'a [SegBox],
    ctx: &'a RequestContext,
    fold: bool,
) -> Option<Vec<Resolved<'a>>> {
    segs.iter()
        .map(|s| {
            let lit = match &s.0 {
                Seg::Piece(Piece::Star) => return Some(Resolved::Star),
                Seg::Piece(Piece::Any) => return Some(Resolved::Any),
                Seg::Piece(Piece::Lit(text)) => Cow::Borrowed(text.as_str()),
                Seg::Var(key) => ctx.variable(key)?,
            };
            Some(Resolved::Lit(if fold {
                Cow::Owned(lit.to_lowercase())
            } else {
                lit
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use test_case::test_case;

    const GLOB_VARS: Syntax = Syntax {
        glob: true,
        vars: true,
    };

    fn ctx_for(user: &str) -> RequestContext {
        let mut ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        ctx.username = Some(user.to_string());
        ctx
    }

    #[test_case("", "", true)]
    #[test_case("*", "", true)]
    #[test_case("*", "anything/at/all", true)]
    #[test_case("a?c", "abc", true)]
    #[test_case("a?c", "ac", false)]
    #[test_case("a?c", "aéc", true; "question mark takes a whole character")]
    #[test_case("a*b*c", "aXXbYYc", true)]
    #[test_case("a*b*c", "aXXbYY", false)]
    #[test_case("*.txt", "notes.txt.bak", false)]
    #[test_case("home/*/x", "home/a/b/x", true; "star crosses slashes")]
    #[test_case("abc", "ABC", false; "case sensitive")]
    fn globs_match_like_aws(pattern: &str, text: &str, expected: bool) {
        assert_eq!(matches(&compile(pattern), text), expected);
    }

    /// A backtracking matcher takes exponential time on this pair; ours stays within the
    /// O(pattern × text) bound of the module invariant. Counted in loop turns, not seconds,
    /// so a loaded machine cannot fail it (the timing is in `benches/policy.rs`).
    #[test]
    fn pathological_pattern_finishes_quickly() {
        let pattern = "a*".repeat(40) + "b";
        let text = "a".repeat(5000);
        let pieces = compile(&pattern);
        let mut steps = 0;
        assert!(!match_counting(&pieces, &text, &mut steps));
        let bound = (pieces.len() as u64 + 1) * (text.len() as u64 + 1);
        assert!(steps <= bound, "{steps} steps, more than {bound}");
    }

    #[test_case("alice", true)]
    #[test_case("*", false; "star user")]
    #[test_case("a*", false; "star suffix user")]
    #[test_case("?????", false; "question mark user")]
    #[test_case("$", false; "dollar user")]
    fn variable_values_match_literally(user: &str, expected: bool) {
        let pattern = Pattern::parse("arn:aws:s3:::b/home/${aws:username}/*", GLOB_VARS).unwrap();
        assert_eq!(
            pattern.matches("arn:aws:s3:::b/home/alice/f", &ctx_for(user)),
            expected
        );
    }

    #[test]
    fn escapes_stand_for_literal_characters() {
        let pattern = Pattern::parse("a${*}b${?}c${$}", GLOB_VARS).unwrap();
        assert!(pattern.matches("a*b?c$", &ctx_for("u")));
        assert!(!pattern.matches("aXbYc$", &ctx_for("u")));
    }

    #[test]
    fn missing_variable_matches_nothing() {
        let pattern = Pattern::parse("${aws:username}*", GLOB_VARS).unwrap();
        let ctx = RequestContext::new(time::OffsetDateTime::UNIX_EPOCH);
        assert!(!pattern.matches("anything", &ctx));
    }

    #[test]
    fn variable_names_are_case_insensitive() {
        let pattern = Pattern::parse("${AWS:UserName}", GLOB_VARS).unwrap();
        assert!(pattern.matches("bob", &ctx_for("bob")));
    }

    #[test_case("${aws:nope}"; "unknown variable")]
    #[test_case("${aws:username"; "unterminated")]
    fn bad_variables_are_refused(text: &str) {
        assert!(Pattern::parse(text, GLOB_VARS).is_err());
    }

    #[test]
    fn old_version_keeps_dollar_braces_literal() {
        let syntax = Syntax {
            glob: true,
            vars: false,
        };
        let pattern = Pattern::parse("${aws:username}", syntax).unwrap();
        assert!(pattern.matches("${aws:username}", &ctx_for("bob")));
        assert!(!pattern.matches("bob", &ctx_for("bob")));
    }

    #[test]
    fn ignore_case_folds_both_sides() {
        let syntax = Syntax {
            glob: false,
            vars: true,
        };
        let pattern = Pattern::parse("Home/${aws:username}", syntax).unwrap();
        assert!(pattern.matches_ignore_case("HOME/BOB", &ctx_for("bob")));
        assert!(!pattern.matches_ignore_case("HOME/BOBX", &ctx_for("bob")));
    }

    /// The obviously correct, exponential definition.
    fn oracle(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| oracle(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && oracle(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && oracle(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn glob_agrees_with_naive_oracle(p in "[ab*?é]{0,8}", t in "[abé]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(matches(&compile(&p), &t), oracle(&pc, &tc));
        }

        #[test]
        fn username_variable_never_widens(user in "[a*?$/]{0,6}", other in "[a*?$/]{0,6}") {
            let pattern = Pattern::parse("p/${aws:username}/*", GLOB_VARS).unwrap();
            let ctx = ctx_for(&user);
            let target = format!("p/{other}/x");
            prop_assert_eq!(pattern.matches(&target, &ctx), target.starts_with(&format!("p/{user}/")));
        }
    }
}
