//! The architecture, checked from the source: which module may import which.
//!
//! docs/architecture.md draws the layers: routes -> (campaigns, tracking) -> invitations ->
//! (google, store). This test reads every non-test source file under `src/` and fails when
//! - a module below the web layer imports actix-web, or reaches up to `routes`, `cli`,
//!   `emulator`, `startup`, `state` or `middleware`;
//! - two top-level modules import each other, directly or through others (an import circle);
//! - a handler in `src/routes/` names `google` or `store` (handlers call the domain only);
//! - a file of the domain (`src/invitations/`) names a campaign type or table (campaign rules
//!   live in `campaigns`, which hands the domain's one safe send a guard of its own);
//! - the audit observer of send and cancel items is implemented other than once, or in a
//!   handler (requests and campaigns share one, so the send path never climbs back up);
//! - `src/invitations/`, `src/campaigns/` or `src/tracking/` re-exports or aliases a store type
//!   (`pub use`, `pub(crate) use`, grouped or through `super::`, `type .. = ..store::..`), or
//!   `Invitations` has a public field, a `fn store(`, `fn google(` or `fn gate(` escape hatch, or
//!   any method answering a `Gate`, `Durable`, `Store` or `GoogleClient` (whatever its name);
//! - the store writes a vocabulary name (a state, kind or outcome) as an SQL literal instead of
//!   binding it from the enum;
//! - a file of `src/campaigns/` or `src/tracking/` names the store other than through the gate:
//!   the rule is that it never names the type `Store` nor calls a `store()` or `google()`
//!   accessor, so its only way to the store is the `Gate` startup hands it (`gate.call(|store|
//!   ..)`, which reports every failure to readiness); it may import the store's row types;
//! - `error` reaches a handler, an entry point or the store (it maps the domain's errors to
//!   problems; actix-web is its business, `routes` is not);
//! - a handler hands a layer below it work to run: it calls a public function of the domain
//!   (`audit`, `google`, `invitations`, `store`, `campaigns`, `tracking`; `pub` or `pub(crate)`)
//!   that takes a future or a closure, so that nothing outside `routes` takes or awaits something defined there (the
//!   walk from a handler to Google and back never returns to `routes/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that know nothing of HTTP serving: the domain, the upstream, the store, settings.
const BELOW_THE_WEB: &[&str] = &[
    "audit",
    "google",
    "invitations",
    "store",
    "campaigns",
    "tracking",
    "config",
];

/// What a module below the web layer must never reach.
const WEB_AND_ENTRY_POINTS: &[&str] = &[
    "routes",
    "cli",
    "emulator",
    "startup",
    "state",
    "middleware",
];

/// What handlers must never reach: they call the domain.
const BEHIND_THE_DOMAIN: &[&str] = &["google", "store", "GoogleClient", "CallContext", "Store"];

/// What the domain must never name: campaigns are a layer above it.
const CAMPAIGN_WORDS: &[&str] = &[
    "CampaignState",
    "ItemLease",
    "CampaignRecord",
    "campaign_items",
    "campaigns",
];

/// One source file's production code: comments and `#[cfg(test)]` items removed.
struct Source {
    path: PathBuf,
    module: String,
    code: String,
}

#[test]
fn modules_below_the_web_layer_import_no_web_code() {
    let mut violations = Vec::new();
    for source in sources() {
        if !BELOW_THE_WEB.contains(&source.module.as_str()) {
            continue;
        }
        if source.code.contains("actix_web") || source.code.contains("actix-web") {
            violations.push(format!("{} imports actix-web", source.path.display()));
        }
        for target in imports(&source) {
            if WEB_AND_ENTRY_POINTS.contains(&target.as_str()) {
                violations.push(format!("{} imports crate::{target}", source.path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn top_level_modules_import_each_other_in_one_direction() {
    let graph = module_graph(&sources());
    // A reader that lost the code would find no circle: the known edges must be there.
    for (from, to) in [
        ("routes", "invitations"),
        ("invitations", "google"),
        ("state", "auth"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} -> {to} not found: the reader is broken"
        );
    }
    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "import circles between top-level modules:\n{}",
        circles
            .iter()
            .map(|circle| circle.join(" -> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn handlers_never_name_google_or_the_store() {
    let violations = named_in("routes", BEHIND_THE_DOMAIN);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_domain_names_no_campaign_type() {
    let mut violations = named_in("invitations", CAMPAIGN_WORDS);
    let campaign_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/invitations/campaign.rs");
    if campaign_file.exists() {
        violations.push("src/invitations/campaign.rs exists".to_owned());
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn one_audit_observer_serves_requests_and_campaigns_outside_the_handlers() {
    let sources = sources();
    let observers: Vec<String> = sources
        .iter()
        .flat_map(|source| {
            let found = implementations(&source.code, "MutationObserver");
            std::iter::repeat_n(source.path.display().to_string(), found)
        })
        .collect();
    assert_eq!(
        observers.len(),
        1,
        "`MutationObserver` must be implemented exactly once (the audit trail), found in: {observers:?}"
    );
    for source in sources.iter().filter(|s| s.module == "routes") {
        for name in ["MutationObserver", "SendGuard"] {
            assert_eq!(
                implementations(&source.code, name),
                0,
                "{} implements `{name}`: a handler parses, calls the domain and renders",
                source.path.display()
            );
        }
    }
}

#[test]
fn the_domain_re_exports_no_store_type_and_has_no_escape_hatch() {
    let mut violations = Vec::new();
    let sources = sources();
    for source in sources
        .iter()
        .filter(|s| ["invitations", "campaigns", "tracking"].contains(&s.module.as_str()))
    {
        let code = one_line(&source.code);
        if re_exports_the_store(&code) {
            violations.push(format!("{} re-exports a store type", source.path.display()));
        }
        if code.contains("pub struct Invitations{")
            && blocks_after(&code, "pub struct Invitations{")
                .iter()
                .any(|fields| fields.contains("pub "))
        {
            violations.push(format!(
                "{}: Invitations has a public field (a way round the domain)",
                source.path.display()
            ));
        }
        if store_aliases(&code) {
            violations.push(format!(
                "{} aliases a store type (`type .. = crate::store::..`)",
                source.path.display()
            ));
        }
    }
    let impls: Vec<(String, String)> = sources
        .iter()
        .flat_map(|s| {
            impl_blocks(&s.code, "Invitations")
                .into_iter()
                .map(move |block| (s.path.display().to_string(), block))
        })
        .collect();
    assert!(
        !impls.is_empty(),
        "no `impl Invitations` found: the reader is broken"
    );
    for (path, block) in impls {
        for hatch in ["fn store(", "fn google(", "fn gate("] {
            if block.contains(hatch) {
                violations.push(format!("{path}: Invitations has `{hatch}..`"));
            }
        }
        for hatch in hands_out_what_it_hides(&block) {
            violations.push(format!(
                "{path}: Invitations::{hatch} hands out what the domain hides"
            ));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn campaigns_and_tracking_reach_the_store_only_through_the_gate() {
    let mut violations = Vec::new();
    let mut gates = BTreeSet::new();
    for source in sources()
        .iter()
        .filter(|s| s.module == "campaigns" || s.module == "tracking")
    {
        violations.extend(
            names_the_store_around_the_gate(&source.code)
                .into_iter()
                .map(|what| format!("{} names {what}", source.path.display())),
        );
        if contains_word(&source.code, "Gate") {
            gates.insert(source.module.clone());
        }
    }
    assert_eq!(
        gates,
        BTreeSet::from(["campaigns".to_owned(), "tracking".to_owned()]),
        "each of campaigns and tracking holds the gate: the reader is broken"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_store_spells_no_vocabulary_name_in_sql() {
    // The names of states, kinds and outcomes are declared once, in `src/vocabulary.rs`; the
    // store binds them from the enums, so SQL never writes one as a literal.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let vocabulary = std::fs::read_to_string(root.join("vocabulary.rs")).expect("read vocabulary");
    let names = declared_names(&vocabulary);
    assert!(
        names.contains("accepted") && names.contains("running") && names.contains("pending"),
        "the vocabulary's names were not found: the reader is broken ({names:?})"
    );
    let mut files = Vec::new();
    collect(&root.join("store"), &mut files);
    let mut violations = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read a store file");
        for name in sql_literals(&text) {
            if names.contains(name.as_str()) {
                violations.push(format!("{} writes '{name}' in SQL", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The wire names `named!` declares in `vocabulary` (`Accepted = "accepted",`).
fn declared_names(vocabulary: &str) -> BTreeSet<String> {
    vocabulary
        .lines()
        .filter_map(|line| {
            let (_, value) = line.trim().split_once(" = \"")?;
            value.strip_suffix("\",").map(str::to_owned)
        })
        .collect()
}

/// The single-quoted SQL literals inside the string literals of `text` (`'accepted'`).
fn sql_literals(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .flat_map(|string| {
            string
                .split('\'')
                .skip(1)
                .step_by(2)
                .filter(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn errors_reach_no_handler_entry_point_or_store() {
    let mut violations = Vec::new();
    for source in sources().iter().filter(|s| s.module == "error") {
        for target in imports(source) {
            if WEB_AND_ENTRY_POINTS.contains(&target.as_str()) || target == "store" {
                violations.push(format!("{} imports crate::{target}", source.path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn handlers_hand_the_domain_no_work_to_run() {
    let sources = sources();
    let takers: BTreeSet<String> = sources
        .iter()
        .filter(|s| BELOW_THE_WEB.contains(&s.module.as_str()))
        .flat_map(|s| takes_work(&s.code))
        .collect();
    // A reader that lost the signatures would pass anything: the known one must be found.
    assert!(
        takers.contains(".run_once_stored("),
        "`run_once_stored` not found among {takers:?}: the reader is broken"
    );
    let mut violations = Vec::new();
    for source in sources.iter().filter(|s| s.module == "routes") {
        for name in &takers {
            if source.code.contains(name) {
                violations.push(format!(
                    "{} hands `{name}..)` work of its own to run",
                    source.path.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The public functions of `code` that take a future or a closure to run, as their calls are
/// written: `.method(` for a method, `::function(` for a free function.
fn takes_work(code: &str) -> Vec<String> {
    let code = one_line(code);
    let mut found = Vec::new();
    for opening in [
        "pub fn ",
        "pub async fn ",
        "pub(crate) fn ",
        "pub(crate) async fn ",
    ] {
        for (at, _) in code.match_indices(opening) {
            let rest = &code[at + opening.len()..];
            let signature = rest.split('{').next().unwrap_or("");
            let takes = ["Future", "FnOnce", "FnMut", "Fn(", "AsyncFn"]
                .iter()
                .any(|work| signature.contains(work));
            if takes {
                let call = if signature.contains("self") {
                    "."
                } else {
                    "::"
                };
                found.push(format!("{call}{}(", first_word(rest)));
            }
        }
    }
    found
}

/// What of the store `code` names other than through the gate: the `Store` type, a `store()`
/// or a `google()` accessor.
fn names_the_store_around_the_gate(code: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    if contains_word(code, "Store") {
        found.push("the type `Store`");
    }
    if code.contains(".store()") || code.contains("fn store(") {
        found.push("a `store()` accessor");
    }
    if code.contains(".google()") {
        found.push("a `google()` accessor");
    }
    found
}

/// `code` with every run of whitespace made one space and none before `{` or `(`, so that a
/// rule's pattern cannot be stepped round by layout.
fn one_line(code: &str) -> String {
    code.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" {", "{")
        .replace(" (", "(")
}

/// Whether `code` (from [`one_line`]) declares an alias of a store type, whatever its
/// visibility (`type Db = crate::store::Store;`).
fn store_aliases(code: &str) -> bool {
    statements(code, "type ")
        .iter()
        .any(|statement| names_the_store_path(statement))
}

/// Whether `code` (from [`one_line`]) re-exports something of the store, whatever the
/// visibility, grouping or path (`pub use crate::{store::Store}`, `pub(crate) use
/// super::super::store::Caller as Id`).
fn re_exports_the_store(code: &str) -> bool {
    statements(code, "use ")
        .iter()
        .any(|statement| statement.starts_with("pub") && names_the_store_path(statement))
}

/// The statements of `code` (from [`one_line`]) that are `keyword` items, from their
/// visibility (if any) to their `;`: `pub(crate) use a::b` for `use `.
fn statements(code: &str, keyword: &str) -> Vec<String> {
    code.split(';')
        .filter_map(|piece| {
            let at = piece.rfind(keyword)?;
            if at > 0 && is_ident_char(piece, at - 1) {
                return None;
            }
            let before = piece[..at].trim_end();
            let start = ["pub(crate)", "pub(super)", "pub"]
                .iter()
                .find(|visibility| before.ends_with(*visibility))
                .map_or(at, |visibility| before.len() - visibility.len());
            let head = piece[..start].trim_end();
            // The keyword starts an item (after its visibility at most), not an expression.
            let starts_an_item = head.is_empty() || head.ends_with(['}', '{', ']']);
            starts_an_item.then(|| piece[start..].trim().to_owned())
        })
        .collect()
}

fn is_ident_char(text: &str, at: usize) -> bool {
    text[at..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether a `use` or `type` statement names a path into the store module.
fn names_the_store_path(statement: &str) -> bool {
    let path: String = statement.chars().filter(|c| !c.is_whitespace()).collect();
    let path = format!("{path};");
    [
        "::store::",
        "{store::",
        ",store::",
        "::store;",
        ",store}",
        "{store}",
    ]
    .iter()
    .any(|needle| path.contains(needle))
}

/// The methods of an `impl Invitations` body (from [`one_line`]) that answer what the domain
/// hides (the gate, the durable store, the store or the Google client), whatever their name.
fn hands_out_what_it_hides(block: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in block.match_indices("fn ") {
        let rest = &block[at + 3..];
        let signature = rest.split('{').next().unwrap_or("");
        let Some((_, answer)) = signature.split_once("->") else {
            continue;
        };
        let hidden = ["Gate", "Durable", "Store", "GoogleClient"]
            .iter()
            .any(|name| contains_word(answer, name));
        if hidden {
            found.push(first_word(rest));
        }
    }
    found
}

/// The bodies of every `impl <name> {` block of `code` (not trait impls for it), whatever the
/// layout.
fn impl_blocks(code: &str, name: &str) -> Vec<String> {
    blocks_after(&one_line(code), &format!("impl {name}{{"))
}

/// The bodies of the blocks that each `opening` (ending in `{`) in `code` begins.
fn blocks_after(code: &str, opening: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(opening) {
        let body = &rest[at + opening.len()..];
        let mut depth = 1usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        blocks.push(body[..end].to_owned());
        rest = &body[end..];
    }
    blocks
}

#[test]
fn the_checker_finds_a_circle_and_a_forbidden_word() {
    // The checks above must be able to fail: the same functions on a made-up tree.
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c", "a"]]);
    let source = Source {
        path: "src/routes/x.rs".into(),
        module: "routes".into(),
        code: strip(
            "use crate::{google::Client, error};\nlet s = state.google_status; // google\n",
        ),
    };
    assert_eq!(
        imports(&source),
        BTreeSet::from(["error".to_owned(), "google".to_owned()])
    );
    assert!(contains_word(&source.code, "google"));
    assert!(!contains_word("state.google_status", "google"));
    let header = r####"h("no-store", 'x', "a\"b"); r#"a "store""#; store.get() // store"####;
    assert_eq!(lex(header), r#"h("", ' ', ""); ""; store.get() "#);
    let tests_in_the_middle = "#[cfg(test)]\nmod tests;\nuse crate::a;\n#[cfg(test)]\nmod t { fn f() { crate::b } }\nuse crate::c;";
    let source = Source {
        path: "x".into(),
        module: "x".into(),
        code: strip(tests_in_the_middle),
    };
    assert_eq!(
        imports(&source),
        BTreeSet::from(["a".to_owned(), "c".to_owned()])
    );
    assert!(!strip("#[cfg(test)]\nmod tests { use crate::routes; }\n").contains("routes"));
    let observers = "impl MutationObserver for A {}\nimpl<'a> MutationObserver for B<'a> {}\n\
        fn f(o: &dyn MutationObserver) {}\nimpl X for MutationObserver {}";
    assert_eq!(implementations(observers, "MutationObserver"), 2);
    assert!(contains_word(
        "use crate::store::{CampaignState, X};",
        "CampaignState"
    ));
    // The store rules on made-up code: a hatch inside the impl is found, one outside is not.
    let code = "impl Invitations { fn a() { if x { } } pub fn store(&self) {} }\nfn store() {}";
    let blocks = impl_blocks(code, "Invitations");
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0].contains("fn store("));
    assert!(
        !impl_blocks("impl Other { fn store() {} }", "Invitations")
            .iter()
            .any(|b| b.contains("fn store("))
    );
    assert_eq!(
        names_the_store_around_the_gate("let s: &Store = self.store(); x.google();"),
        vec![
            "the type `Store`",
            "a `store()` accessor",
            "a `google()` accessor"
        ]
    );
    assert!(
        names_the_store_around_the_gate("self.gate.call(|s| s.campaign(id)); StoreError")
            .is_empty()
    );
    let domain = "pub async fn run<F, T>(&self, work: F) -> T where F: Future<Output = T> {}\n\
        pub fn call(&self, f: impl FnOnce(&S) -> T) {}\npub fn plain(&self, x: u32) {}";
    assert_eq!(takes_work(domain), vec![".call(", ".run("]);
    let free = "pub async fn export(google: G, context: impl Fn() -> C) {}";
    assert_eq!(takes_work(free), vec!["::export("]);
    let crate_wide = "pub(crate) fn later(&self, work: impl FnOnce() -> u8) {}";
    assert_eq!(takes_work(crate_wide), vec![".later("]);
    // Re-exports and aliases of the store, however they are spelled, and what is not one.
    for spelled in [
        "pub use crate::store::Store;",
        "pub use crate::{store::Store};",
        "pub use crate::{error, store::Caller};",
        "pub(crate) use crate::store::Store as Db;",
        "pub use super::super::store::Caller;",
        "pub(super) use crate::store::{Gate, Clock};",
    ] {
        assert!(re_exports_the_store(&one_line(spelled)), "{spelled}");
    }
    for fine in [
        "use crate::store::Store;",
        "pub use crate::vocabulary::ItemOutcome;",
        "pub use self::restore::Plan;",
    ] {
        assert!(!re_exports_the_store(&one_line(fine)), "{fine}");
    }
    for spelled in [
        "pub type Db = crate::store::Store;",
        "pub(crate) type Db = crate::store::Store;",
        "type Db = super::super::store::Gate;",
    ] {
        assert!(store_aliases(&one_line(spelled)), "{spelled}");
    }
    assert!(!store_aliases(&one_line(
        "pub type Answer = Result<u8, Error>;"
    )));
    // A hatch is found by what it answers, whatever its name.
    let block = one_line(
        "pub(crate) fn durable(&self) -> &Durable { &self.d } \
         pub fn backend(&self) -> Arc<Gate> { x } pub fn page(&self) -> Page { p }",
    );
    assert_eq!(hands_out_what_it_hides(&block), vec!["durable", "backend"]);
    // SQL literals are found inside strings, and only there.
    let sql = r#"execute!(s, "UPDATE t SET state = 'waiting' WHERE a = $1", x); let c = 'x';"#;
    assert_eq!(sql_literals(sql), vec!["waiting"]);
    assert!(declared_names("        Running = \"running\",\n").contains("running"));
}

/// Every production source file under `src/`, except the crate root and `src/**/tests/`.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&root).expect("collected under src/");
            let mut parts = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned());
            let first = parts.next()?;
            if relative.iter().any(|part| part == "tests") {
                return None;
            }
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("read a source file");
            Some(Source {
                path,
                module,
                code: strip(&text),
            })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The production code of a file: comments removed, string and character literals emptied
/// (their quotes kept), and every item marked `#[cfg(test)]` cut out.
fn strip(text: &str) -> String {
    let code = lex(text);
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at + "#[cfg(test)]".len()..];
        // The item ends at its `;` (`mod tests;`) or at the brace closing its first `{`.
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Rust source with its comments dropped and the text of its literals emptied, so that
/// neither a `//` in a URL nor a word in a message is taken for code.
fn lex(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (at(i + 1) == '"' || at(i + 1) == '#')
            && !is_ident(at_prev(&chars, i))
        {
            // A raw string `r#"..."#`: it ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str("\"\"");
            j += 1;
            while j < chars.len() && !(chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                j += 1;
            }
            i = j + 1 + hashes;
        } else if c == '"' {
            out.push_str("\"\"");
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' && (at(i + 2) == '\'' || at(i + 1) == '\\') {
            // A character literal (`'x'`, `'\''`), not a lifetime.
            out.push_str("' '");
            i += if at(i + 1) == '\\' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn at_prev(chars: &[char], i: usize) -> char {
    if i == 0 { ' ' } else { chars[i - 1] }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The top-level modules a file names through `crate::`.
fn imports(source: &Source) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code = &source.code;
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b, c::{..}}`: the first word of each top-level entry.
            let mut depth = 0;
            let mut entry_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => entry_start = true,
                    c if entry_start && (c.is_alphanumeric() || c == '_') => {
                        found.insert(first_word(&group[i..]));
                        entry_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(first_word(rest));
        }
    }
    found.retain(|module| *module != source.module && !module.is_empty());
    found
}

fn first_word(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Where the production code of top-level `module` names one of `words`, one line each.
fn named_in(module: &str, words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources().iter().filter(|s| s.module == module) {
        for word in words {
            if contains_word(&source.code, word) {
                found.push(format!("{} names `{word}`", source.path.display()));
            }
        }
    }
    found
}

/// How many `impl ... {name} for` blocks `code` holds.
fn implementations(code: &str, name: &str) -> usize {
    let pattern = format!("{name} for ");
    code.match_indices(&pattern)
        .filter(|(at, _)| {
            let line = code[..*at].rsplit('\n').next().unwrap_or_default();
            line.trim_start().starts_with("impl")
        })
        .count()
}

fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !is_word(before) && !is_word(after)
    })
}

/// Module -> the modules it imports (only modules that have source files).
fn module_graph(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources {
        let edges = graph.entry(source.module.clone()).or_default();
        edges.extend(
            imports(source)
                .into_iter()
                .filter(|target| modules.contains(target)),
        );
    }
    graph
}

/// Each import circle once, as the path that closes it (depth-first search).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            found.push(circle);
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}
