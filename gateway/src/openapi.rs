//! The gateway's OpenAPI 3.0 document, served at `/openapi.json` and committed as
//! `gateway/openapi.json` (a test fails when the copy is stale; `gitview-gateway openapi`
//! prints it).
//!
//! The component schemas are generated from the Rust bodies in [`gitview_core::results`] with
//! schemars (the crate the CRDs' schemas already come from), so they cannot drift from what
//! serde reads and writes; the paths are written here, one entry per route, and a test checks
//! them against the routes the router really serves ([`crate::router::served_routes`]). The
//! examples are Rust values serialised, so they stay valid as the types change.

use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person};
use gitview_core::results::{
    AccountPolicy, AnalysisDetail, AnalysisPage, ApiKeyCreated, ApiKeyList, BatchStored,
    CommitBatch, CommitPage, CommitUpload, CreateApiKey, ErrorBody, FileHistory, FinishRun,
    HistorySlice, LastAnalyzed, LatestProgress, LogBatch, LogLevel, LogLine, LogPage, LogsStored,
    MAX_SUMMARY_LOOKUP, ProgressEvent, ProgressPage, RepositoryStory, RunFinished, RunStarted,
    RunStatus, SetAccountPolicy, StartRun, StoredCommit, StoredHistoryEnd, StoredHistoryPage,
    SummariesFound, SummaryLookup,
};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::kit::paging::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::routes::logs::MAX_LINES;
use crate::routes::read::slice::{DEFAULT_MAX_COMMITS, MAX_COMMITS};
use crate::routes::runs::history::{DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::routes::runs::history_stream::NDJSON;
use crate::routes::runs::summaries::MAX_SUMMARY_BYTES;

/// The security scheme of runner routes: the operator-signed runner token.
pub const RUNNER_TOKEN: &str = "runnerToken";
/// The security scheme of read routes: a per-account API key.
pub const API_KEY: &str = "apiKey";
/// The security scheme of admin routes: the gateway's admin token.
pub const ADMIN_TOKEN: &str = "adminToken";
/// Security scheme of the operator's read token (`repositories:read`, `runs:read`).
pub const OPERATOR_TOKEN: &str = "operatorToken";

/// The analysis uid the document's examples use (the fuzz test writes through it).
pub const EXAMPLE_ANALYSIS: &str = "6a1f3c2e-9b4d-4e8a-8f7c-2d5e0b1a9c3f";
/// The account name the document's examples use.
pub const EXAMPLE_ACCOUNT: &str = "team-a";
/// A summary key in the examples.
pub const EXAMPLE_SUMMARY_KEY: &str =
    "5e0c1d2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d";
/// A repository fingerprint in the examples.
pub const EXAMPLE_FINGERPRINT: &str =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// A key id in the examples that names no key (so examples never revoke a real one).
pub const EXAMPLE_KEY_ID: &str = "0123456789abcdef";

struct Document {
    generator: SchemaGenerator,
    paths: Map<String, Value>,
}

impl Document {
    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    fn add(&mut self, method: &str, path: &str, operation: Value) {
        let item = self
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(method.to_owned(), operation);
        }
    }
}

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("the examples serialise: they are plain data")
}

fn json_body(schema: Value, example: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema, "example": example}}})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn empty(description: &str) -> Value {
    json!({"description": description})
}

fn text(description: &str) -> Value {
    json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}})
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "A malformed request: a bad parameter, body or path segment, named in the message",
        401 => "No credential, or one that is invalid, expired or revoked",
        403 => {
            "The credential does not allow this (another analysis, a missing scope, admin disabled)"
        }
        404 => "Not found, or another account's",
        409 => {
            "Conflicts with stored data (a finished analysis, a superseded or unstarted attempt, a lost compare-and-set)"
        }
        413 => "The body is over the size limit",
        415 => "The body is not application/json",
        422 => "The body is JSON, but not of the documented shape (named in the message)",
        429 => "This API key is over its rate limit: retry after `Retry-After` seconds",
        _ => "The database is unavailable; retry later",
    }
}

/// The rate-limit headers of every answer on a keyed (API key) route once the key is known;
/// with `Retry-After` on a 429.
fn rate_limit_headers(refused: bool) -> Value {
    let header = |description: &str| json!({"description": description, "schema": {"type": "integer", "minimum": 0}});
    let mut headers = json!({
        "RateLimit-Limit": header("The key's burst: how many requests it may make at once"),
        "RateLimit-Remaining": header("How many more requests the key may make now"),
        "RateLimit-Reset": header("Seconds until the key's whole burst is available again"),
    });
    if refused {
        headers["Retry-After"] = header("Seconds until the key may make a request again");
    }
    headers
}

/// A keyed route's success: its body and the rate-limit headers.
fn keyed_response(description: &str, schema: Value) -> Value {
    let mut response = json_response(description, schema);
    response["headers"] = rate_limit_headers(false);
    response
}

/// The answers of an operation: its success and its errors, all in the one error shape.
fn responses(ok: &[(u16, Value)], errors: &[u16]) -> Value {
    let mut map = Map::new();
    for (status, response) in ok {
        map.insert(status.to_string(), response.clone());
    }
    for status in errors {
        map.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/Error{status}")}),
        );
    }
    Value::Object(map)
}

fn path_param(name: &str, description: &str, example: &str) -> Value {
    constrained_path_param(name, description, example, json!({"type": "string"}))
}

fn constrained_path_param(name: &str, description: &str, example: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": schema, "example": example})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn required_query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": true, "description": description, "schema": schema})
}

fn security(scheme: &str) -> Value {
    json!([{scheme: []}])
}

fn analysis_param() -> Value {
    path_param(
        "analysis",
        "The Analysis' uid; the runner token must be for it",
        EXAMPLE_ANALYSIS,
    )
}

fn id_param() -> Value {
    path_param(
        "id",
        "The analysis' id (the Analysis' uid)",
        EXAMPLE_ANALYSIS,
    )
}

fn account_param() -> Value {
    constrained_path_param(
        "account",
        "The account's name (the one runner tokens carry): 1 to 253 characters, no whitespace",
        EXAMPLE_ACCOUNT,
        json!({"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^\\S+$"}),
    )
}

fn limit_param() -> Value {
    query(
        "limit",
        "Page size",
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    )
}

fn cursor_param() -> Value {
    query(
        "cursor",
        "The previous page's `nextCursor`, with the same filters",
        json!({"type": "string"}),
    )
}

fn window_params(on: &str) -> [Value; 2] {
    [
        query(
            "since",
            &format!("Only {on} at or after this RFC 3339 time (with an offset)"),
            json!({"type": "string", "format": "date-time"}),
        ),
        query(
            "until",
            &format!("Only {on} before this RFC 3339 time (with an offset)"),
            json!({"type": "string", "format": "date-time"}),
        ),
    ]
}

/// Example bodies, from the Rust types.
fn example_commit() -> CommitRecord {
    let person = |name: &str| Person {
        name: name.to_owned(),
        email: format!("{name}@example.com"),
        time: "2024-05-01T09:30:00+02:00".to_owned(),
        canonical: None,
    };
    CommitRecord {
        id: "3f".repeat(20),
        parents: vec![],
        author: person("ada"),
        committer: person("ada"),
        message: "Start\n".to_owned(),
        files: vec![FileStat {
            path: "src/main.rs".to_owned(),
            added: Some(10),
            deleted: Some(0),
            status: FileStatus::Added,
        }],
        renames: vec![],
    }
}

fn runner_routes(doc: &mut Document) {
    let write_errors = [400, 401, 403, 404, 413, 415, 422, 503];
    // The run's results: written by the analysis' current attempt only (409 for another's).
    let result_errors = [400, 401, 403, 404, 409, 413, 415, 422, 503];
    let start = StartRun {
        namespace: "team-a".to_owned(),
        name: "history".to_owned(),
        attempt: 1,
        repository_url: "https://example.com/team-a/app.git".to_owned(),
        branch: "main".to_owned(),
        mode: "Full".to_owned(),
        config: json!({"profile": "default"}),
    };
    let (body, ok) = (doc.schema::<StartRun>(), doc.schema::<RunStarted>());
    doc.add("post", "/v1/runs/{analysis}/start", json!({
        "operationId": "startRun", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": "Start the analysis, or resume it on a retried attempt",
        "parameters": [analysis_param()],
        "requestBody": json_body(body, to_value(start)),
        "responses": responses(&[(200, json_response("Started", ok))], &[400, 401, 403, 409, 413, 415, 422, 503]),
    }));
    let batch = CommitBatch {
        batch: 0,
        commits: vec![CommitUpload {
            record: example_commit(),
            enrichment: json!({"class": "feature"}),
        }],
    };
    let (body, ok) = (doc.schema::<CommitBatch>(), doc.schema::<BatchStored>());
    doc.add("post", "/v1/runs/{analysis}/commits", json!({
        "operationId": "putCommits", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": "Store a numbered batch of commits with file stats (idempotent per batch and commit)",
        "parameters": [analysis_param()],
        "requestBody": json_body(body, to_value(batch)),
        "responses": responses(&[(200, json_response("Stored", ok))], &result_errors),
    }));
    doc.add(
        "put",
        "/v1/runs/{analysis}/phases",
        json!({
            "operationId": "putPhases", "tags": ["runner"], "security": security(RUNNER_TOKEN),
            "summary": "Replace the analysis' phase documents",
            "parameters": [analysis_param()],
            "requestBody": json_body(
                json!({"type": "array", "items": {"type": "object"}}),
                json!([{"number": 1, "title": "Start"}]),
            ),
            "responses": responses(&[(204, empty("Stored"))], &result_errors),
        }),
    );
    doc.add(
        "put",
        "/v1/runs/{analysis}/artifacts/{name}",
        json!({
            "operationId": "putArtifact", "tags": ["runner"], "security": security(RUNNER_TOKEN),
            "summary": "Store an artifact (story.md, timeline.json, …); its Content-Type is kept",
            "description": "The body is streamed: up to 1 MiB it is kept in the database, above that in the gateway's object store (--object-store), up to --max-artifact-bytes (413 above). Storing a name again replaces the artifact.",
            "parameters": [analysis_param(), path_param(
                "name", gitview_core::artifact::NAME_RULE, "story.md")],
            "requestBody": {"required": true, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
            "responses": responses(&[(204, empty("Stored"))], &[400, 401, 403, 404, 409, 413, 503]),
        }),
    );
    let event = ProgressEvent {
        stage: "extract".to_owned(),
        done: 10,
        total: 100,
        elapsed_ms: 250,
    };
    let body = doc.schema::<ProgressEvent>();
    doc.add(
        "post",
        "/v1/runs/{analysis}/progress",
        json!({
            "operationId": "postProgress", "tags": ["runner"], "security": security(RUNNER_TOKEN),
            "summary": "Record a progress event",
            "parameters": [analysis_param()],
            "requestBody": json_body(body, to_value(event)),
            "responses": responses(&[(204, empty("Recorded"))], &write_errors),
        }),
    );
    let logs = LogBatch {
        lines: vec![LogLine {
            seq: 0,
            at: "2024-05-01T09:30:00Z".to_owned(),
            level: LogLevel::Info,
            message: "extract: 120 commits".to_owned(),
            fields: json!({"stage": "extract"}),
        }],
    };
    let (body, ok) = (doc.schema::<LogBatch>(), doc.schema::<LogsStored>());
    doc.add("post", "/v1/runs/{analysis}/logs", json!({
        "operationId": "postLogs", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": format!("Store a batch of the attempt's log lines (at most {MAX_LINES}; idempotent per attempt and seq)"),
        "parameters": [analysis_param()],
        "requestBody": json_body(body, to_value(logs)),
        "responses": responses(&[(200, json_response("Stored", ok))], &write_errors),
    }));
    let finish = FinishRun {
        status: RunStatus::Failed,
        message: "the clone failed".to_owned(),
        from_commit: None,
        to_commit: None,
        commits_analyzed: 0,
        metrics: json!({}),
        model_versions: json!({}),
        advance: None,
    };
    let (body, ok) = (doc.schema::<FinishRun>(), doc.schema::<RunFinished>());
    doc.add(
        "post",
        "/v1/runs/{analysis}/finish",
        json!({
            "operationId": "finishRun", "tags": ["runner"], "security": security(RUNNER_TOKEN),
            "summary": "End the run; a successful one may advance the repository (compare-and-set)",
            "parameters": [analysis_param()],
            "requestBody": json_body(body, to_value(finish)),
            "responses": responses(&[(200, json_response("Finished", ok))], &result_errors),
        }),
    );
}

/// The runner's reads and the account's summary cache.
fn runner_cache_routes(doc: &mut Document) {
    let ok = doc.schema::<StoredHistoryPage>();
    doc.add("get", "/v1/runs/{analysis}/history", json!({
        "operationId": "getStoredHistory", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": "The commits the run's repository already has in the gateway (stored by any run of it in the account), oldest committer time first",
        "description": "Each commit as it was uploaded (the record and its enrichment), scrubbed again when the account's policy scrubs PII. Keyset-paginated: pass nextCursor as cursor.",
        "parameters": [
            analysis_param(),
            query("limit", "Page size", json!({"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_LIMIT, "default": DEFAULT_HISTORY_LIMIT})),
            cursor_param(),
        ],
        "responses": responses(&[(200, json_response("A page of the stored history", ok))], &[400, 401, 403, 404, 503]),
    }));
    let line = json!({"oneOf": [doc.schema::<StoredCommit>(), doc.schema::<StoredHistoryEnd>()]});
    doc.add("get", "/v1/runs/{analysis}/history/stream", json!({
        "operationId": "streamStoredHistory", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": "The whole stored history of the run's repository in one response, oldest committer time first, as NDJSON",
        "description": "The commits getStoredHistory pages, in the same order, one JSON object a line: {\"record\": …, \"enrichment\": …} (StoredCommit) per commit, then {\"end\": {\"commits\": N}} (StoredHistoryEnd). A stream that lacks that last line, or whose N differs from the lines before it, was cut off (the database failed mid-stream, or the connection did) and must be read again. Scrubbed when the account's policy scrubs PII. The schema is that of one line.",
        "parameters": [analysis_param()],
        "responses": responses(&[(200, json!({"description": "The stored history, a commit a line, then the count", "content": {NDJSON: {"schema": line}}}))], &[400, 401, 403, 404, 503]),
    }));
    let lookup = SummaryLookup {
        keys: vec![EXAMPLE_SUMMARY_KEY.to_owned()],
    };
    let (body, ok) = (
        doc.schema::<SummaryLookup>(),
        doc.schema::<SummariesFound>(),
    );
    doc.add("post", "/v1/runs/{analysis}/summaries/lookup", json!({
        "operationId": "lookupSummaries", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": format!("Which of these summaries (1 to {MAX_SUMMARY_LOOKUP} keys) the account has stored, by any of its runs"),
        "parameters": [analysis_param()],
        "requestBody": json_body(body, to_value(lookup)),
        "responses": responses(&[(200, json_response("The summaries found, by key", ok))], &[400, 401, 403, 404, 413, 415, 422, 503]),
    }));
    doc.add("put", "/v1/runs/{analysis}/summaries/{key}", json!({
        "operationId": "putSummary", "tags": ["runner"], "security": security(RUNNER_TOKEN),
        "summary": "Store a summary in the account's cache (again: replaced, 204)",
        "parameters": [analysis_param(), constrained_path_param(
            "key", "The summary's key: the runner's hash of the chunk, prompt version and model (64 lower-case hex)",
            EXAMPLE_SUMMARY_KEY, json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}))],
        "requestBody": {"required": true, "content": {"application/json": {
            "schema": {"description": format!("Any JSON value, at most {MAX_SUMMARY_BYTES} bytes")},
            "example": {"summary": "The gateway gained a summary cache."}}}},
        "responses": responses(&[(204, empty("Stored"))], &[400, 401, 403, 404, 413, 415, 503]),
    }));
}

fn repository_routes(doc: &mut Document) {
    let errors = [400, 401, 403, 404, 429, 503];
    let fingerprint = || {
        constrained_path_param(
            "fingerprint",
            "The repository's fingerprint (64 lower-case hex, as every analysis shows it)",
            EXAMPLE_FINGERPRINT,
            json!({"type": "string"}),
        )
    };
    let ok = doc.schema::<RepositoryStory>();
    doc.add("get", "/v1/repositories/{fingerprint}/story", json!({
        "operationId": "getRepositoryStory", "tags": ["read"], "security": security(API_KEY),
        "summary": "The repository's current story: the one its newest succeeded analysis wrote over the whole history",
        "description": "story.md and story.json of the newest succeeded analysis whose story covers the whole history (coverage.wholeHistory); 404 until one has. Scrubbed when the account's policy scrubs PII.",
        "parameters": [fingerprint()],
        "responses": responses(&[(200, keyed_response("The story", ok))], &errors),
    }));
    let ok = doc.schema::<FileHistory>();
    doc.add("get", "/v1/repositories/{fingerprint}/files/{path}/history", json!({
        "operationId": "getFileHistory", "tags": ["read"], "security": security(API_KEY),
        "summary": "One path's history: every stored commit that touched it (a file, or anything under a directory), newest first",
        "description": "With totals and authors over all those commits, the lines each changed under the path, and the current story's storylines that include any of them. The path may hold slashes (src/main.rs).",
        "parameters": [
            fingerprint(),
            constrained_path_param("path", "A file or directory, relative to the repository's root", "src/main.rs",
                json!({"type": "string", "minLength": 1})),
            limit_param(), cursor_param(),
        ],
        "responses": responses(&[(200, keyed_response("A page of the path's history", ok))], &errors),
    }));
}

fn read_routes(doc: &mut Document) {
    let read_errors = [400, 401, 403, 429, 503];
    let one_errors = [400, 401, 403, 404, 429, 503];
    let ok = doc.schema::<AnalysisPage>();
    let [since, until] = window_params("analyses created");
    doc.add("get", "/v1/analyses", json!({
        "operationId": "listAnalyses", "tags": ["read"], "security": security(API_KEY),
        "summary": "The account's analyses, newest first",
        "parameters": [
            query("repository", "A repository fingerprint (64 hex), or a URL in any spelling of the remote, https or ssh alike (all its branches)", json!({"type": "string"})),
            query("status", "The analysis' status", json!({"type": "string", "enum": ["running", "succeeded", "failed"]})),
            since, until, limit_param(), cursor_param(),
        ],
        "responses": responses(&[(200, keyed_response("A page of analyses", ok))], &read_errors),
    }));
    let ok = doc.schema::<AnalysisDetail>();
    doc.add(
        "get",
        "/v1/analyses/{id}",
        json!({
            "operationId": "getAnalysis", "tags": ["read"], "security": security(API_KEY),
            "summary": "One analysis with its phases, story, timeline and artifact list",
            "parameters": [id_param()],
            "responses": responses(&[(200, keyed_response("The analysis", ok))], &one_errors),
        }),
    );
    let ok = doc.schema::<CommitPage>();
    let [since, until] = window_params("commits committed");
    doc.add("get", "/v1/analyses/{id}/commits", json!({
        "operationId": "listCommits", "tags": ["read"], "security": security(API_KEY),
        "summary": "The analysis' commits, newest first by committer time",
        "parameters": [
            id_param(),
            query("author", "An author's name (exact) or email (any case)", json!({"type": "string"})),
            query("path", "A file, or a directory (everything under it)", json!({"type": "string"})),
            since, until, limit_param(), cursor_param(),
        ],
        "responses": responses(&[(200, keyed_response("A page of commits", ok))], &one_errors),
    }));
    let mut ok = json!({"description": "The artifact's bytes, with the Content-Type it was stored with",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}});
    ok["headers"] = rate_limit_headers(false);
    ok["headers"]["ETag"] = json!({"description": "The stored bytes' sha256, quoted; absent when the account's policy scrubs text artifacts on the way out", "schema": {"type": "string"}});
    doc.add("get", "/v1/analyses/{id}/artifacts/{name}", json!({
        "operationId": "getArtifact", "tags": ["read"], "security": security(API_KEY),
        "summary": "One artifact's content, streamed (from the database or the object store)",
        "parameters": [id_param(), path_param("name", "The artifact's name, as the detail lists it", "story.md")],
        "responses": responses(&[(200, ok)], &one_errors),
    }));
    let ok = doc.schema::<HistorySlice>();
    let [since, until] = window_params("commits committed");
    doc.add("get", "/v1/analyses/{id}/slice", json!({
        "operationId": "getSlice", "tags": ["read"], "security": security(API_KEY),
        "summary": "A JSON slice of the repository's history as this analysis knew it, for downstream model services",
        "description": "Totals; breakdowns by class, month, path (depth two) and author; the newest commits with ids to cite. Covers the commits stored by this analysis and the repository's earlier analyses, narrowed by committer time and path.",
        "parameters": [
            id_param(),
            since, until,
            query("path", "A file, or a directory (everything under it)", json!({"type": "string"})),
            query("maxCommits", &format!("How many of the newest commits to list (0 to {MAX_COMMITS}; default {DEFAULT_MAX_COMMITS})"),
                  json!({"type": "integer", "minimum": 0, "maximum": MAX_COMMITS})),
        ],
        "responses": responses(&[(200, keyed_response("The slice", ok))], &one_errors),
    }));
    let ok = doc.schema::<ProgressPage>();
    doc.add("get", "/v1/analyses/{id}/progress", json!({
        "operationId": "listProgress", "tags": ["read"], "security": security(API_KEY),
        "summary": "The analysis' progress events, oldest first",
        "parameters": [id_param(), limit_param(), cursor_param()],
        "responses": responses(&[(200, keyed_response("A page of progress events", ok))], &one_errors),
    }));
    let ok = doc.schema::<LogPage>();
    doc.add("get", "/v1/analyses/{id}/logs", json!({
        "operationId": "listLogs", "tags": ["read"], "security": security(API_KEY),
        "summary": "The analysis' run log, in order: by attempt, then seq",
        "description": "Messages and fields scrubbed when the account's policy scrubs PII. A client paging through the log follows nextCursor until it is absent; a follower keeps resumeCursor (the position after the page's last line, given whenever the page has lines), or the one it had when a page is empty, and asks again with it for the lines stored later.",
        "parameters": [
            id_param(),
            query("attempt", "Only this attempt's lines", json!({"type": "integer", "format": "int32"})),
            query("level", "Only lines at this level or above", json!({"type": "string", "enum": LogLevel::ALL.map(LogLevel::as_str)})),
            limit_param(),
            query("cursor", "The previous page's `nextCursor`, or a follower's `resumeCursor`, with the same filters", json!({"type": "string"})),
        ],
        "responses": responses(&[(200, keyed_response("A page of log lines", ok))], &one_errors),
    }));
}

fn operator_routes(doc: &mut Document) {
    let ok = doc.schema::<LastAnalyzed>();
    doc.add("get", "/v1/repositories/last-analyzed", json!({
        "operationId": "getLastAnalyzed", "tags": ["operator"], "security": security(OPERATOR_TOKEN),
        "summary": "Where the token's account last analyzed a repository and branch (any spelling of the remote)",
        "parameters": [
            required_query("url", "The repository's remote URL", json!({"type": "string", "minLength": 1})),
            required_query("branch", "The branch", json!({"type": "string", "minLength": 1, "maxLength": 255})),
        ],
        "responses": responses(&[(200, json_response("The last analyzed commit, or null", ok))], &[400, 401, 403, 503]),
    }));
    let ok = doc.schema::<LatestProgress>();
    doc.add("get", "/v1/runs/{analysis}/progress/latest", json!({
        "operationId": "getLatestProgress", "tags": ["operator"], "security": security(OPERATOR_TOKEN),
        "summary": "A run's newest progress event, or null (the operator shows it in the Analysis' status)",
        "description": "Without attempt: the newest event of the analysis' current attempt (the one that started last) or a later one, never of a superseded attempt.",
        "parameters": [analysis_param(), query("attempt", "Only this attempt's events (the attempt number in its runner token)", json!({"type": "integer", "minimum": 1}))],
        "responses": responses(&[(200, json_response("The newest progress event, or null", ok))], &[400, 401, 403, 503]),
    }));
    let ok = doc.schema::<AccountPolicy>();
    doc.add("get", "/v1/account/policy", json!({
        "operationId": "getOwnAccountPolicy", "tags": ["operator"], "security": security(OPERATOR_TOKEN),
        "summary": "The token's account's data policy (the operator hands scrubPii to each new attempt's runner)",
        "description": "An account the gateway has not seen is created with a new account's policy, which scrubs.",
        "responses": responses(&[(200, json_response("The account's policy", ok))], &[401, 403, 503]),
    }));
}

fn admin_routes(doc: &mut Document) {
    let create = CreateApiKey {
        name: "dashboard".to_owned(),
        scopes: vec!["read".to_owned()],
    };
    let (body, ok) = (doc.schema::<CreateApiKey>(), doc.schema::<ApiKeyCreated>());
    doc.add("post", "/v1/admin/accounts/{account}/keys", json!({
        "operationId": "createApiKey", "tags": ["admin"], "security": security(ADMIN_TOKEN),
        "summary": "Create an API key (the account too, if new); the only time its secret is shown",
        "parameters": [account_param()],
        "requestBody": json_body(body, to_value(create)),
        "responses": responses(&[(201, json_response("Created", ok))], &[400, 401, 403, 413, 415, 422, 503]),
    }));
    let ok = doc.schema::<ApiKeyList>();
    doc.add("get", "/v1/admin/accounts/{account}/keys", json!({
        "operationId": "listApiKeys", "tags": ["admin"], "security": security(ADMIN_TOKEN),
        "summary": "The account's keys, revoked ones included, never their secrets",
        "parameters": [account_param()],
        "responses": responses(&[(200, json_response("The keys", ok))], &[400, 401, 403, 404, 503]),
    }));
    doc.add(
        "delete",
        "/v1/admin/accounts/{account}/keys/{id}",
        json!({
            "operationId": "revokeApiKey", "tags": ["admin"], "security": security(ADMIN_TOKEN),
            "summary": "Revoke a key (again: no change, 204)",
            "parameters": [account_param(), constrained_path_param(
                "id", "The key's public id (16 lowercase hex)", EXAMPLE_KEY_ID,
                json!({"type": "string", "pattern": "^[0-9a-f]{16}$"}))],
            "responses": responses(&[(204, empty("Revoked"))], &[400, 401, 403, 404, 503]),
        }),
    );
    let ok = doc.schema::<AccountPolicy>();
    doc.add("get", "/v1/admin/accounts/{account}/policy", json!({
        "operationId": "getAccountPolicy", "tags": ["admin"], "security": security(ADMIN_TOKEN),
        "summary": "The account's data policy: scrubbing on read, retention",
        "parameters": [account_param()],
        "responses": responses(&[(200, json_response("The policy", ok.clone()))], &[400, 401, 403, 404, 503]),
    }));
    let set = SetAccountPolicy {
        scrub_pii: Some(true),
        retention_days: Some(90),
    };
    let body = doc.schema::<SetAccountPolicy>();
    doc.add("put", "/v1/admin/accounts/{account}/policy", json!({
        "operationId": "setAccountPolicy", "tags": ["admin"], "security": security(ADMIN_TOKEN),
        "summary": "Change the account's data policy (the account too, if new); absent fields stay",
        "parameters": [account_param()],
        "requestBody": json_body(body, to_value(set)),
        "responses": responses(&[(200, json_response("The policy now", ok))], &[400, 401, 403, 413, 415, 422, 503]),
    }));
}

fn service_routes(doc: &mut Document) {
    doc.add(
        "get",
        "/healthz",
        json!({
            "operationId": "healthz", "tags": ["service"], "security": [],
            "summary": "Alive",
            "responses": {"200": text("ok")},
        }),
    );
    doc.add(
        "get",
        "/readyz",
        json!({
            "operationId": "readyz", "tags": ["service"], "security": [],
            "summary": "Ready: the database answers",
            "responses": responses(&[(200, text("ok"))], &[503]),
        }),
    );
    doc.add(
        "get",
        "/metrics",
        json!({
            "operationId": "metrics", "tags": ["service"], "security": [],
            "summary": "Prometheus metrics (text exposition format)",
            "responses": {"200": text("The metrics")},
        }),
    );
    doc.add(
        "get",
        "/openapi.json",
        json!({
            "operationId": "openapi", "tags": ["service"], "security": [],
            "summary": "This document",
            "responses": {"200": json_response("The OpenAPI document", json!({"type": "object"}))},
        }),
    );
}

/// The document.
pub fn document() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|settings| settings.meta_schema = None)
        .into_generator();
    let mut doc = Document {
        generator,
        paths: Map::new(),
    };
    runner_routes(&mut doc);
    runner_cache_routes(&mut doc);
    read_routes(&mut doc);
    repository_routes(&mut doc);
    admin_routes(&mut doc);
    operator_routes(&mut doc);
    service_routes(&mut doc);
    let error = doc.schema::<ErrorBody>();
    let mut error_responses = Map::new();
    for status in [400, 401, 403, 404, 409, 413, 415, 422, 429, 503] {
        let mut response = json_response(error_description(status), error.clone());
        if status == 429 {
            response["headers"] = rate_limit_headers(true);
        }
        error_responses.insert(format!("Error{status}"), response);
    }
    let Document {
        mut generator,
        paths,
    } = doc;
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "gitview gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The results service: runners write an analysis' results with operator-signed tokens; users read them with per-account API keys; an admin token manages the keys. Every error is an ErrorBody with the request's X-Request-Id. API keys are rate-limited per key: their answers carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, and a key over its budget gets 429 with Retry-After.",
        },
        "tags": [
            {"name": "runner", "description": "Runner pods write an analysis' results"},
            {"name": "read", "description": "Users and downstream services read them"},
            {"name": "admin", "description": "Per-account API keys and data policies"},
            {"name": "operator", "description": "The operator reads what its RepositoryTrackers compare with"},
            {"name": "service", "description": "Health, readiness, metrics, this document"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses,
            "securitySchemes": {
                RUNNER_TOKEN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "The runner token the operator signs (EdDSA) for one account, analysis and attempt"},
                API_KEY: {"type": "http", "scheme": "bearer", "bearerFormat": "gvk_<16 hex>_<64 hex>",
                    "description": "A per-account API key with the read scope"},
                ADMIN_TOKEN: {"type": "http", "scheme": "bearer",
                    "description": "The gateway's admin token (--admin-token-file)"},
                OPERATOR_TOKEN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A token the operator signs (EdDSA) for one account with the repositories:read and runs:read scopes"},
            },
        },
    })
}

/// The document as committed in `gateway/openapi.json`: pretty, with a final newline.
pub fn document_pretty() -> String {
    let mut text =
        serde_json::to_string_pretty(&document()).expect("a JSON value always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
