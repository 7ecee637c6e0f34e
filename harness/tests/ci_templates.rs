//! The CI templates in `ci/` (GitHub Actions, GitLab CI for self-hosted runners): every YAML file parses, and
//! the workflows are wired the way `ci/README.md` says — self-hosted runners, JUnit published from where reachlab
//! writes it, reports uploaded on failure, the exit code acted on last, shards and partitions consistent — and
//! every `reachlab` subcommand they call is one the README documents (or one listed in `ANNOUNCED`).
//! Pure: reads files only, needs no privileges.

use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GITHUB: &str = "ci/github/reachlab.yml";
const GITLAB: &str = "ci/gitlab/.gitlab-ci.yml";
const CLASSROOM: &str = "ci/github/classroom.yml";
const ACTIONLINT: &str = ".github/actionlint.yaml";

/// Subcommands the templates may use although the README's command table does not list them yet.
const ANNOUNCED: &[&str] = &[];
/// The options announced for `reachlab grade`.
const GRADE_OPTIONS: &[&str] = &["--suite", "--report-dir", "--jobs", "--shard", "--format"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `.yml` / `.yaml` under `ci/`, dot-files included, relative to the repository.
fn yaml_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&repo().join("ci"), &mut v);
    let mut v: Vec<String> =
        v.into_iter().map(|p| p.strip_prefix(repo()).unwrap().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn load(rel: &str) -> Value {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn map<'a>(v: &'a Value, what: &str) -> &'a Mapping {
    v.as_mapping().unwrap_or_else(|| panic!("{what}: expected a mapping, found {v:?}"))
}

fn seq<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence().unwrap_or_else(|| panic!("{what}: expected a sequence, found {v:?}"))
}

fn string<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(|i| strings(i, what)).collect(),
        other => panic!("{what}: expected strings, found {other:?}"),
    }
}

/// `${{ matrix.shard }}` → `${{matrix.shard}}`, so expressions compare whatever their spacing.
fn norm(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else { break };
        out.push_str("${{");
        out.extend(rest[i + 3..i + j].chars().filter(|c| !c.is_whitespace()));
        out.push_str("}}");
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

/// One `reachlab …` command found in a script: its subcommand and the words after it.
#[derive(Debug, Clone)]
struct Invocation {
    sub: String,
    args: Vec<String>,
}

impl Invocation {
    fn option(&self, name: &str) -> Option<&str> {
        let i = self.args.iter().position(|a| a == name)?;
        self.args.get(i + 1).map(String::as_str)
    }
    fn flags(&self) -> impl Iterator<Item = &str> {
        self.args.iter().filter(|a| a.starts_with("--")).map(|a| a.split('=').next().unwrap())
    }
}

/// The `reachlab` commands in a shell script: a command (optionally behind `sudo`) that is `reachlab` or a path
/// ending in `/reachlab` (`./target/release/reachlab`), its global options skipped, then the subcommand and its arguments up to the
/// end of the command (`;`, `&&`, `||`, `|`, end of line). Comments are ignored, continuation lines joined.
fn invocations(script: &str) -> Vec<Invocation> {
    let joined = norm(&script.replace("\\\n", " "));
    let mut found = Vec::new();
    for line in joined.lines() {
        let mut words: Vec<String> = Vec::new();
        for raw in line.split_whitespace() {
            if raw.starts_with('#') {
                break;
            }
            words.push(raw.to_string());
        }
        let text = words.join(" ");
        for command in text.split(['\n', ';', '|', '&']) {
            let words: Vec<String> =
                command.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string()).collect();
            // The command word, after `sudo [-E …]` / `env` / `exec` / `time` if present.
            let mut at = 0;
            while words.get(at).is_some_and(|w| ["sudo", "env", "exec", "time"].contains(&w.as_str())) {
                at += 1;
                while words.get(at).is_some_and(|w| w.starts_with('-')) {
                    at += 1;
                }
            }
            if !words.get(at).is_some_and(|w| w == "reachlab" || w.ends_with("/reachlab")) {
                continue;
            }
            let mut rest = words[at + 1..].iter();
            let mut sub = None;
            while let Some(w) = rest.next() {
                if w == "--state-dir" {
                    rest.next();
                } else if !w.starts_with('-') {
                    sub = Some(w.clone());
                    break;
                }
            }
            let sub = sub.unwrap_or_else(|| panic!("`reachlab` without a subcommand in: {command}"));
            found.push(Invocation { sub, args: rest.cloned().collect() });
        }
    }
    found
}

/// The README's `## Commands` table: subcommand → its row (which lists its options).
fn documented_commands() -> Vec<(String, String)> {
    let readme = read("README.md");
    let section = readme.split("\n## Commands").nth(1).expect("README has a `## Commands` section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("| `reachlab ")?;
            let sub = rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '-').next()?;
            Some((sub.to_string(), l.to_string()))
        })
        .collect();
    let names: BTreeSet<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
    for must in ["run", "doctor", "clean"] {
        assert!(names.contains(must), "README's command table no longer parses (found {names:?})");
    }
    rows
}

/// Global options, valid with every subcommand (README: "Global options: `--state-dir DIR` …; `--color …`").
fn global_options() -> Vec<String> {
    let readme = read("README.md");
    assert!(readme.contains("Global options: `--state-dir DIR`"), "README's global options changed");
    assert!(readme.contains("`--color auto|always|never`"), "README's global options changed");
    vec!["--state-dir".into(), "--color".into()]
}

/// Where nextest writes JUnit for the default profile, from `.config/nextest.toml`.
fn nextest_junit() -> String {
    let config: toml::Table = toml::from_str(&read(".config/nextest.toml")).unwrap();
    let path = config["profile"]["default"]["junit"]["path"].as_str().expect("profile.default.junit.path");
    format!("target/nextest/default/{path}")
}

/// `reports/run/` and `reports/run` name the same directory.
fn same_dir(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// `--shard ${{ matrix.shard }}/3` style: the matrix values are exactly 1..=N for the N in `/N`.
fn assert_one_based(values: &[Value], total: usize, what: &str) {
    let got: Vec<u64> = values.iter().map(|v| v.as_u64().unwrap_or_else(|| panic!("{what}: {v:?}"))).collect();
    let want: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(got, want, "{what}: the matrix must list 1..={total}, as the command's `/{total}` says");
}

/// The number after `PREFIX` up to the next non-digit, e.g. `/3` in `--shard ${{matrix.shard}}/3`.
fn total_after(text: &str, prefix: &str) -> Option<usize> {
    let i = text.find(prefix)? + prefix.len();
    let digits: String = text[i..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------------------------
// Every template

#[test]
fn every_yaml_template_parses_as_one_document() {
    let files = yaml_files();
    for must in [GITHUB, GITLAB] {
        assert!(files.iter().any(|f| f == must), "{must} is missing (found {files:?})");
    }
    for f in &files {
        let text = read(f);
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect();
        assert_eq!(docs.len(), 1, "{f}: expected one YAML document");
        map(&docs[0], f);
        assert!(!text.contains('\t'), "{f}: tabs in YAML");
    }
}

/// Every shell script of every template: (file, job, script).
fn all_scripts() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, job) in github_jobs(&load(GITHUB)) {
        for step in steps(&job, &name) {
            if let Some(run) = step.get("run") {
                out.push((GITHUB.to_string(), name.clone(), string(run, &name).to_string()));
            }
        }
    }
    for (name, job) in github_jobs(&load(CLASSROOM)) {
        for step in steps(&job, &name) {
            if let Some(run) = step.get("run") {
                out.push((CLASSROOM.to_string(), name.clone(), string(run, &name).to_string()));
            }
        }
    }
    for (name, job) in gitlab_jobs(&load(GITLAB)) {
        for s in gitlab_scripts(&job) {
            out.push((GITLAB.to_string(), name.clone(), s));
        }
    }
    out
}

/// Shell blocks of ci/README.md (```sh / ```bash / ```console).
fn readme_shell_blocks() -> Vec<String> {
    let text = read("ci/README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(lang)) if ["sh", "bash", "console", "shell"].contains(&lang.trim()) => {
                current = Some(String::new())
            }
            (Some(block), Some(_)) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), None) => {
                block.push_str(line.trim_start().trim_start_matches("$ "));
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_reachlab_subcommand_used_is_documented_or_announced() {
    let commands = documented_commands();
    let globals = global_options();
    let mut sources: Vec<(String, String)> =
        all_scripts().into_iter().map(|(f, job, s)| (format!("{f} job `{job}`"), s)).collect();
    sources.extend(readme_shell_blocks().into_iter().map(|b| ("ci/README.md".to_string(), b)));
    let mut used = BTreeSet::new();
    for (where_, script) in &sources {
        for inv in invocations(script) {
            used.insert(inv.sub.clone());
            let row = commands.iter().find(|(s, _)| *s == inv.sub).map(|(_, r)| r.as_str());
            match row {
                Some(row) => {
                    for flag in inv.flags() {
                        assert!(
                            row.contains(&format!("`{flag}")) || globals.iter().any(|g| g == flag),
                            "{where_}: `reachlab {} {flag}` is not an option the README documents",
                            inv.sub
                        );
                    }
                }
                None if ANNOUNCED.contains(&inv.sub.as_str()) => {
                    for flag in inv.flags() {
                        assert!(
                            GRADE_OPTIONS.contains(&flag) || globals.iter().any(|g| g == flag),
                            "{where_}: `reachlab {} {flag}` was not announced",
                            inv.sub
                        );
                    }
                }
                None => panic!(
                    "{where_}: `reachlab {}` is not in the README's command table ({:?}) nor announced ({ANNOUNCED:?})",
                    inv.sub,
                    commands.iter().map(|(s, _)| s).collect::<Vec<_>>()
                ),
            }
        }
    }
    for must in ["run", "doctor", "clean", "grade"] {
        assert!(used.contains(must), "no template calls `reachlab {must}` (used: {used:?})");
    }
}

#[test]
fn invocation_parsing() {
    let inv = invocations(
        "set +e\nsudo ./target/release/reachlab --state-dir /x run test-suites --report-dir \"reports/run\" || code=$?\n\
         # reachlab frobnicate is only a comment\nsudo reachlab grade --suite s \\\n  --shard 1/3 subs; echo reachlab-x\necho \"see reachlab doctor\"; sudo -E reachlab clean --all",
    );
    assert_eq!(inv.len(), 3, "{inv:?}");
    assert_eq!(inv[2].sub, "clean");
    assert_eq!(inv[2].flags().collect::<Vec<_>>(), ["--all"]);
    assert_eq!(inv[0].sub, "run");
    assert_eq!(inv[0].option("--report-dir"), Some("reports/run"));
    assert_eq!(inv[1].sub, "grade");
    assert_eq!(inv[1].option("--shard"), Some("1/3"));
    assert_eq!(norm("a ${{ matrix.shard }}/3 ${{matrix.x}}"), "a ${{matrix.shard}}/3 ${{matrix.x}}");
    assert_eq!(total_after("--shard ${{matrix.shard}}/3 x", "${{matrix.shard}}/"), Some(3));
}

#[test]
fn the_readme_names_every_template() {
    let readme = read("ci/README.md");
    for f in yaml_files() {
        assert!(readme.contains(&f), "ci/README.md does not mention {f}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// GitHub Actions

fn github_jobs(doc: &Value) -> Vec<(String, Value)> {
    map(&doc["jobs"], "jobs").iter().map(|(k, v)| (string(k, "job name").to_string(), v.clone())).collect()
}

fn steps(job: &Value, name: &str) -> Vec<Mapping> {
    seq(&job["steps"], &format!("jobs.{name}.steps"))
        .iter()
        .map(|s| map(s, &format!("a step of {name}")).clone())
        .collect()
}

fn uses(step: &Mapping) -> Option<&str> {
    step.get("uses").and_then(Value::as_str)
}

fn run_of(step: &Mapping) -> &str {
    step.get("run").and_then(Value::as_str).unwrap_or("")
}

fn with<'a>(step: &'a Mapping, key: &str) -> &'a str {
    step.get("with")
        .and_then(|w| w.get(key))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("step {:?} has no `with.{key}`", step.get("name")))
}

fn always(step: &Mapping) -> bool {
    step.get("if").and_then(Value::as_str).is_some_and(|c| c.contains("always()"))
}

/// The index of the first step matching, with a message naming the job.
fn find_step(steps: &[Mapping], job: &str, what: &str, f: impl Fn(&Mapping) -> bool) -> usize {
    steps.iter().position(f).unwrap_or_else(|| panic!("job `{job}` has no step that {what}"))
}

fn github() -> Value {
    load(GITHUB)
}

#[test]
fn github_workflow_has_triggers_and_the_named_jobs() {
    let doc = github();
    let on = map(doc.get("on").expect("`on:` (a YAML 1.1 reader would make it `true`; this one must not)"), "on");
    for trigger in ["push", "pull_request", "workflow_dispatch"] {
        assert!(on.contains_key(trigger), "`on` lacks {trigger}");
    }
    let jobs: BTreeSet<String> = github_jobs(&doc).into_iter().map(|(n, _)| n).collect();
    for job in ["suites", "grade", "tests"] {
        assert!(jobs.contains(job), "no job `{job}` (jobs: {jobs:?})");
    }
    // The junit reporter needs to create check runs.
    assert_eq!(doc["permissions"]["checks"].as_str(), Some("write"), "permissions.checks: write");
}

#[test]
fn github_jobs_run_on_self_hosted_reachlab_runners_and_pin_their_actions() {
    for (name, job) in github_jobs(&github()) {
        let labels = strings(&job["runs-on"], &format!("jobs.{name}.runs-on"));
        for label in ["self-hosted", "linux", "reachlab"] {
            assert!(labels.iter().any(|l| l == label), "jobs.{name}.runs-on lacks `{label}`: {labels:?}");
        }
        let steps = steps(&job, &name);
        assert!(
            uses(&steps[0]).is_some_and(|u| u.starts_with("actions/checkout@")),
            "jobs.{name}: the first step checks out"
        );
        for step in &steps {
            if let Some(u) = uses(step) {
                let (_, version) = u.split_once('@').unwrap_or_else(|| panic!("jobs.{name}: `{u}` unpinned"));
                assert!(version.starts_with('v') || version.len() == 40, "jobs.{name}: `{u}` pinned oddly");
            }
            assert!(step.contains_key("uses") ^ step.contains_key("run"), "jobs.{name}: a step needs uses xor run");
        }
        // upload-artifact@v4 refuses two artifacts of one name: matrix jobs must put the matrix in the name.
        let matrix_keys: Vec<String> = job["strategy"]["matrix"]
            .as_mapping()
            .map(|m| m.keys().map(|k| string(k, "matrix key").to_string()).collect())
            .unwrap_or_default();
        for step in steps.iter().filter(|s| uses(s).is_some_and(|u| u.starts_with("actions/upload-artifact@"))) {
            assert!(always(step), "jobs.{name}: upload-artifact must run `if: always()`");
            let artifact = norm(with(step, "name"));
            for key in &matrix_keys {
                assert!(
                    artifact.contains(&format!("${{{{matrix.{key}}}}}")),
                    "jobs.{name}: artifact `{artifact}` must contain the matrix value `{key}`"
                );
            }
        }
        for step in steps.iter().filter(|s| uses(s).is_some_and(|u| u.starts_with("mikepenz/action-junit-report@"))) {
            assert!(always(step), "jobs.{name}: the JUnit reporter must run `if: always()`");
        }
    }
}

/// The step running `reachlab SUB`, its invocation, and its index.
fn reachlab_step(steps: &[Mapping], job: &str, sub: &str) -> (usize, Invocation) {
    let i = find_step(steps, job, &format!("runs `reachlab {sub}`"), |s| {
        invocations(run_of(s)).iter().any(|inv| inv.sub == sub)
    });
    let inv = invocations(run_of(&steps[i])).into_iter().find(|inv| inv.sub == sub).unwrap();
    (i, inv)
}

/// The run step keeps going (its exit code goes to `$GITHUB_OUTPUT`), and a later step, after every publishing
/// step, fails the job on it.
fn assert_exit_code_acted_on_last(steps: &[Mapping], job: &str, run: usize, publishing: &[usize]) {
    let step = &steps[run];
    let id = step.get("id").and_then(Value::as_str).unwrap_or_else(|| panic!("jobs.{job}: the run step needs an id"));
    let script = run_of(step);
    assert!(
        step.get("continue-on-error").and_then(Value::as_bool) == Some(true)
            || (script.contains("set +e") && script.contains("$GITHUB_OUTPUT")),
        "jobs.{job}: the run step must not fail before the reports are published"
    );
    let reference = format!("steps.{id}.outputs");
    let fail = steps
        .iter()
        .rposition(|s| norm(&serde_yaml_ng::to_string(s).unwrap()).contains(&reference))
        .unwrap_or_else(|| panic!("jobs.{job}: no step acts on {reference}"));
    assert!(always(&steps[fail]), "jobs.{job}: the exit-code step must run `if: always()`");
    for &p in publishing {
        assert!(run < p && p < fail, "jobs.{job}: publish (step {p}) between the run ({run}) and the verdict ({fail})");
    }
    assert!(run_of(&steps[fail]).contains("4)"), "jobs.{job}: exit code 4 (infrastructure: rerun) is handled");
}

#[test]
fn github_suites_job_publishes_what_reachlab_writes_then_fails_on_its_exit_code() {
    let doc = github();
    let job = &doc["jobs"]["suites"];
    let steps = steps(job, "suites");
    let build =
        find_step(&steps, "suites", "runs cargo build --release", |s| run_of(s).contains("cargo build --release"));
    let (run, inv) = reachlab_step(&steps, "suites", "run");
    assert!(build < run, "build before run");
    assert!(run_of(&steps[run]).contains("sudo "), "reachlab runs through sudo (or as root)");
    let dir = inv.option("--report-dir").expect("reachlab run --report-dir").to_string();

    let junit = find_step(&steps, "suites", "publishes JUnit", |s| {
        uses(s).is_some_and(|u| u.starts_with("mikepenz/action-junit-report@"))
    });
    assert_eq!(with(&steps[junit], "report_paths"), format!("{dir}/junit.xml"), "JUnit path ≠ reachlab's");

    let summary = find_step(&steps, "suites", "appends summary.md to the job summary", |s| {
        run_of(s).contains("$GITHUB_STEP_SUMMARY")
    });
    assert!(run_of(&steps[summary]).contains(&format!("{dir}/summary.md")), "summary.md from {dir}");
    assert!(always(&steps[summary]), "the job summary is written `if: always()`");

    let upload = find_step(&steps, "suites", "uploads the report dir", |s| {
        uses(s).is_some_and(|u| u.starts_with("actions/upload-artifact@v4"))
    });
    assert!(same_dir(with(&steps[upload], "path"), &dir), "the uploaded path is the report dir {dir}");

    assert_exit_code_acted_on_last(&steps, "suites", run, &[junit, summary, upload]);
}

#[test]
fn github_grade_job_shards_match_its_matrix() {
    let doc = github();
    let job = &doc["jobs"]["grade"];
    let cond = string(&job["if"], "jobs.grade.if");
    assert!(cond.contains("workflow_dispatch") && cond.contains("inputs.grade"), "grade is dispatched by hand");
    assert!(doc["on"]["workflow_dispatch"]["inputs"]["grade"].is_mapping(), "a `grade` dispatch input");
    let shards = seq(&job["strategy"]["matrix"]["shard"], "matrix.shard");

    let steps = steps(job, "grade");
    let (run, inv) = reachlab_step(&steps, "grade", "grade");
    let shard = norm(inv.option("--shard").expect("--shard"));
    let total = total_after(&shard, "${{matrix.shard}}/").unwrap_or_else(|| panic!("--shard {shard}"));
    assert_eq!(shard, format!("${{{{matrix.shard}}}}/{total}"));
    assert_one_based(shards, total, "jobs.grade.strategy.matrix.shard");
    if let Some(name) = job.get("name").and_then(Value::as_str) {
        assert!(!norm(name).contains('/') || norm(name).contains(&format!("/{total}")), "job name's /N");
    }
    assert!(inv.option("--suite").is_some(), "grade --suite");
    let dir = norm(inv.option("--report-dir").expect("--report-dir"));
    assert!(dir.contains("${{matrix.shard}}"), "each shard reports into its own directory: {dir}");

    let junit = find_step(&steps, "grade", "publishes JUnit", |s| {
        uses(s).is_some_and(|u| u.starts_with("mikepenz/action-junit-report@"))
    });
    let paths = norm(with(&steps[junit], "report_paths"));
    assert!(paths.starts_with(&format!("{}/", dir.trim_end_matches('/'))), "{paths} under {dir}");
    assert!(paths.ends_with("/junit.xml"), "{paths}: per-submission junit.xml");
    let upload = find_step(&steps, "grade", "uploads the shard's reports", |s| {
        uses(s).is_some_and(|u| u.starts_with("actions/upload-artifact@v4"))
    });
    assert!(same_dir(&norm(with(&steps[upload], "path")), &dir), "the uploaded path is {dir}");

    assert_exit_code_acted_on_last(&steps, "grade", run, &[junit, upload]);
}

#[test]
fn github_tests_job_partitions_match_its_matrix() {
    let doc = github();
    let job = &doc["jobs"]["tests"];
    let steps = steps(job, "tests");
    let run = find_step(&steps, "tests", "runs cargo nextest run", |s| run_of(s).contains("cargo nextest run"));
    let script = norm(run_of(&steps[run]));
    let total = total_after(&script, "--partition count:${{matrix.partition}}/")
        .unwrap_or_else(|| panic!("`--partition count:${{{{ matrix.partition }}}}/N` in {script}"));
    assert_one_based(seq(&job["strategy"]["matrix"]["partition"], "matrix.partition"), total, "matrix.partition");

    let junit = find_step(&steps, "tests", "publishes JUnit", |s| {
        uses(s).is_some_and(|u| u.starts_with("mikepenz/action-junit-report@"))
    });
    assert!(junit > run);
    assert_eq!(with(&steps[junit], "report_paths"), nextest_junit(), "nextest's JUnit (.config/nextest.toml)");
}

// ---------------------------------------------------------------------------------------------------------------
// GitLab CI

/// Top-level keys that are not jobs.
const GITLAB_GLOBAL: &[&str] = &[
    "stages",
    "variables",
    "workflow",
    "default",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "types",
];

fn gitlab_jobs(doc: &Value) -> Vec<(String, Value)> {
    map(doc, GITLAB)
        .iter()
        .map(|(k, v)| (string(k, "key").to_string(), v.clone()))
        .filter(|(k, _)| !k.starts_with('.') && !GITLAB_GLOBAL.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = resolve_extends(doc, v);
            (k, v)
        })
        .collect()
}

/// A job with its `extends:` templates merged in (shallowly, the job's own keys winning).
fn resolve_extends(doc: &Value, job: Value) -> Value {
    let Some(extends) = job.get("extends") else { return job };
    let mut merged = Mapping::new();
    for parent in strings(extends, "extends") {
        let p = resolve_extends(doc, doc.get(parent.as_str()).unwrap_or_else(|| panic!("extends {parent}")).clone());
        for (k, v) in map(&p, &parent) {
            merged.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in map(&job, "job") {
        merged.insert(k.clone(), v.clone());
    }
    Value::Mapping(merged)
}

fn gitlab_scripts(job: &Value) -> Vec<String> {
    ["before_script", "script", "after_script"]
        .iter()
        .filter_map(|k| job.get(*k))
        .flat_map(|v| strings(v, "script"))
        .collect()
}

fn gitlab_invocation(job: &Value, name: &str, sub: &str) -> Invocation {
    gitlab_scripts(job)
        .iter()
        .flat_map(|s| invocations(s))
        .find(|inv| inv.sub == sub)
        .unwrap_or_else(|| panic!("job `{name}` does not run `reachlab {sub}`"))
}

fn gitlab() -> Value {
    load(GITLAB)
}

#[test]
fn gitlab_pipeline_has_stages_and_every_job_is_tagged_reachlab() {
    let doc = gitlab();
    let stages = strings(&doc["stages"], "stages");
    assert_eq!(stages, ["build", "test", "grade"], "stages");
    let jobs = gitlab_jobs(&doc);
    let names: BTreeSet<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    for must in ["build", "suites", "tests", "grade"] {
        assert!(names.contains(must), "no job `{must}` ({names:?})");
    }
    for (name, job) in &jobs {
        let tags = strings(&job["tags"], &format!("{name}.tags"));
        assert!(tags.iter().any(|t| t == "reachlab"), "{name}.tags lacks reachlab: {tags:?}");
        let stage = string(&job["stage"], &format!("{name}.stage"));
        assert!(stages.iter().any(|s| s == stage), "{name}: stage {stage} not in {stages:?}");
        assert!(!gitlab_scripts(job).is_empty(), "{name}: no script");
        if let Some(needs) = job.get("needs") {
            for need in strings(needs, "needs") {
                assert!(names.contains(need.as_str()), "{name} needs an unknown job {need}");
            }
        }
        // parallel ⇔ CI_NODE_INDEX/CI_NODE_TOTAL
        let uses_node = gitlab_scripts(job).iter().any(|s| s.contains("${CI_NODE_INDEX}/${CI_NODE_TOTAL}"));
        let parallel = job.get("parallel").map(|p| p.as_u64().unwrap_or_else(|| panic!("{name}.parallel: {p:?}")));
        assert_eq!(uses_node, parallel.is_some(), "{name}: `parallel` and CI_NODE_INDEX/CI_NODE_TOTAL go together");
        if let Some(n) = parallel {
            assert!(n >= 2, "{name}: parallel {n}");
        }
        if let Some(artifacts) = job.get("artifacts") {
            if artifacts["reports"].get("junit").is_some() {
                assert_eq!(artifacts["when"].as_str(), Some("always"), "{name}: JUnit kept on failure too");
            }
        }
    }
    let build = &doc["build"];
    assert!(gitlab_scripts(build).iter().any(|s| s.contains("cargo build --release")), "build builds");
    assert!(
        strings(&build["artifacts"]["paths"], "build.artifacts.paths").iter().any(|p| p == "target/release/reachlab"),
        "build hands the binary on"
    );
}

/// A job's `retry: exit_codes` includes 4 (infrastructure error: rerun, not the student's failure).
fn assert_retries_on_4(job: &Value, name: &str) {
    let codes = &job["retry"]["exit_codes"];
    let codes: Vec<u64> = match codes {
        Value::Sequence(s) => s.iter().filter_map(Value::as_u64).collect(),
        v => v.as_u64().into_iter().collect(),
    };
    assert!(codes.contains(&4), "{name}: retry.exit_codes should include 4, found {codes:?}");
}

#[test]
fn gitlab_suites_job_keeps_reachlabs_reports() {
    let doc = gitlab();
    let job = &doc["suites"];
    let inv = gitlab_invocation(job, "suites", "run");
    let dir = inv.option("--report-dir").expect("--report-dir");
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    assert_eq!(artifacts["reports"]["junit"].as_str(), Some(format!("{dir}/junit.xml").as_str()), "JUnit path");
    let paths = strings(&artifacts["paths"], "suites.artifacts.paths");
    assert!(paths.iter().any(|p| same_dir(p, dir)), "artifacts.paths keeps {dir}: {paths:?}");
    let script = gitlab_scripts(job).join("\n");
    assert!(script.contains("|| code=$?") && script.contains("exit \"$code\""), "exit code kept, then acted on");
    assert_retries_on_4(job, "suites");
    gitlab_invocation(job, "suites", "doctor");
}

#[test]
fn gitlab_grade_job_is_sharded_by_node_index() {
    let doc = gitlab();
    let job = &doc["grade"];
    let inv = gitlab_invocation(job, "grade", "grade");
    assert_eq!(inv.option("--shard"), Some("${CI_NODE_INDEX}/${CI_NODE_TOTAL}"));
    assert!(inv.option("--suite").is_some(), "grade --suite");
    assert!(job["parallel"].as_u64().is_some_and(|n| n >= 2));
    let rules = serde_yaml_ng::to_string(&job["rules"]).unwrap();
    assert!(rules.contains("REACHLAB_GRADE"), "grade (coming soon) only runs when asked for");
    let dir = inv.option("--report-dir").expect("--report-dir");
    let fixed = &dir[..dir.find('$').unwrap_or(dir.len())];
    let fixed = &fixed[..=fixed.rfind('/').expect("a report dir below reports/")];
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    let junit = string(&artifacts["reports"]["junit"], "grade.artifacts.reports.junit");
    assert!(junit.starts_with(fixed) && junit.ends_with("/junit.xml"), "{junit} under {fixed}");
    for p in strings(&artifacts["paths"], "grade.artifacts.paths") {
        assert!(p.starts_with(fixed), "{p} under {fixed}");
    }
    assert_retries_on_4(job, "grade");
}

#[test]
fn gitlab_tests_job_is_partitioned_by_node_index() {
    let doc = gitlab();
    let job = &doc["tests"];
    let script = gitlab_scripts(job).join("\n");
    assert!(script.contains("cargo nextest run"), "tests runs nextest");
    assert!(script.contains("--partition count:${CI_NODE_INDEX}/${CI_NODE_TOTAL}"), "nextest partition");
    assert!(job["parallel"].as_u64().is_some_and(|n| n >= 2));
    assert_eq!(job["artifacts"]["reports"]["junit"].as_str(), Some(nextest_junit().as_str()));
}

// ---------------------------------------------------------------------------------------------------------------
// GitHub Classroom and actionlint

#[test]
fn classroom_template_hands_classroom_b64_to_the_reporter_under_the_name_it_reads() {
    let doc = load(CLASSROOM);
    let jobs = github_jobs(&doc);
    let (name, job) = &jobs[0];
    let steps = steps(job, name);
    let reporter = find_step(&steps, name, "uses the Classroom reporter", |s| {
        uses(s).is_some_and(|u| u.starts_with("classroom-resources/autograding-grading-reporter@"))
    });
    let runners: Vec<String> = with(&steps[reporter], "runners").split(',').map(|r| r.trim().to_string()).collect();
    for runner in &runners {
        // The reporter reads process.env[`${runner.trim().toUpperCase()}_RESULTS`] (its src/main.js) as base64.
        let var = format!("{}_RESULTS", runner.to_uppercase());
        let value = steps[reporter]
            .get("env")
            .and_then(|e| e.get(var.as_str()))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("the reporter step has no env {var}"));
        assert_eq!(norm(value), format!("${{{{steps.{runner}.outputs.result}}}}"));
        let grading = find_step(&steps, name, &format!("has id {runner}"), |s| {
            s.get("id").and_then(Value::as_str) == Some(runner.as_str())
        });
        assert!(grading < reporter, "the grading step runs before the reporter");
        let run = run_of(&steps[grading]);
        let grade = invocations(run).into_iter().find(|i| i.sub == "grade").expect("the step runs reachlab grade");
        assert_eq!(grade.option("--format"), Some("classroom"), "classroom.b64 is written by --format classroom");
        let dir = grade.option("--report-dir").expect("--report-dir");
        // Its output `result` is the classroom.b64 reachlab wrote for the one submission, under --report-dir.
        let file = [format!("{dir}/*/classroom.b64"), format!("\"{dir}\"/*/classroom.b64")];
        assert!(file.iter().any(|f| run.contains(f.as_str())), "{run}");
        assert!(run.contains("echo \"result=$b64\" >> \"$GITHUB_OUTPUT\""), "{run}");
    }
}

#[test]
fn actionlint_knows_every_custom_runner_label_the_workflows_use() {
    // actionlint's own configuration format: self-hosted-runner.labels.
    let config: Value = serde_yaml_ng::from_str(&read(ACTIONLINT)).unwrap();
    let known = strings(&config["self-hosted-runner"]["labels"], "self-hosted-runner.labels");
    // Labels GitHub defines itself (actionlint knows them).
    let github_own = ["self-hosted", "linux", "macos", "windows", "x64", "arm", "arm64"];
    for file in [GITHUB, CLASSROOM] {
        for (name, job) in github_jobs(&load(file)) {
            for label in strings(&job["runs-on"], &format!("{file}: jobs.{name}.runs-on")) {
                if !github_own.contains(&label.to_lowercase().as_str()) {
                    assert!(known.contains(&label), "{file}: jobs.{name} runs on `{label}`, unknown to {ACTIONLINT}");
                }
            }
        }
    }
}
