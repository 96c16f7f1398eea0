//! The living story on the real control plane: a tracker follows a branch summarized by a model
//! (a local server speaking OpenAI's chat-completions protocol, which records every prompt);
//! after each push the gateway serves one story of the **whole** history, and no chunk is ever
//! sent to the model twice — the account's summary cache in the gateway answers for the chunks
//! that did not change.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use kube::ResourceExt as _;

use super::{Env, GATEWAY_ADMIN_TOKEN, image};

/// A chat-completions server on loopback that answers every prompt with a short summary and
/// counts how often it saw each one.
struct ModelServer {
    port: u16,
    /// Prompt (the request's messages) → times received.
    prompts: Arc<Mutex<HashMap<String, u32>>>,
}

impl ModelServer {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let prompts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let seen = prompts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen);
                });
            }
        });
        Ok(Self { port, prompts })
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Prompts received so far, and the most times one prompt was received.
    fn counts(&self) -> (u32, u32) {
        let prompts = self.prompts.lock().expect("the prompt log");
        (
            prompts.values().sum(),
            prompts.values().copied().max().unwrap_or(0),
        )
    }
}

/// Reads one HTTP/1.1 request and answers it as chat completions does.
fn serve(stream: std::net::TcpStream, seen: &Mutex<HashMap<String, u32>>) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    if !request_line.starts_with("POST ") || !request_line.contains("/v1/chat/completions ") {
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let request: serde_json::Value = serde_json::from_slice(&body)?;
    let messages = request["messages"].to_string();
    *seen
        .lock()
        .expect("the prompt log")
        .entry(messages.clone())
        .or_default() += 1;
    let answer = serde_json::json!({
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Work went on in this part of the history."},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": messages.len() / 4, "completion_tokens": 9, "total_tokens": messages.len() / 4 + 9}
    })
    .to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    Ok(())
}

pub async fn a_tracker_keeps_one_story_of_the_whole_history(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let model = ModelServer::start()?;
    let repo = env.git.create(&ns, 8)?;
    let url = env.git.url(&ns);
    // A small chunk budget: the history is many chunks, most of which a push leaves alone.
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-model}}\nspec:\n  \
         runner: {{image: \"{}\"}}\n  stages:\n    chunk: {{tokenBudget: 256}}\n    \
         summarize: {{summarizer: ChatCompletions, model: e2e-model, baseUrl: \"{}\"}}\n",
        image::RUNNER,
        model.base_url()
    ))?;
    // The node has no volume provisioner: a hostPath PersistentVolume set aside for the
    // tracker's clone cache, as an administrator would.
    let cache_dir = env.node_dir().join(format!("pv-{ns}-clone-cache"));
    env.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {ns}-clone-cache}}\nspec:\n  capacity: {{storage: 1Gi}}\n  \
         accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Delete\n  storageClassName: \"\"\n  \
         hostPath: {{path: \"{}\", type: DirectoryOrCreate}}\n  claimRef: {{namespace: {ns}, name: repo-clone-cache}}\n",
        cache_dir.display()
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\"}}\n  branches: [main]\n  poll: {{minIntervalSeconds: 10, maxIntervalSeconds: 20}}\n  \
         cloneCache: {{size: 1Gi}}\n  template:\n    spec: {{profile: {ns}-model}}\n"
    ))?;
    let (code, created) = env.gateway(
        "POST",
        &format!("/v1/admin/accounts/{ns}/keys"),
        GATEWAY_ADMIN_TOKEN,
        Some(&serde_json::json!({"name": "e2e"})),
    )?;
    ensure!(code == 201, "creating a key: {code} {created}");
    let key = created["secret"].as_str().context("the key")?.to_owned();

    let mut total = 8;
    let mut sent_before = 0;
    for (round, push) in [0usize, 3, 2].into_iter().enumerate() {
        if push > 0 {
            env.git.commit(&repo, push)?;
            total += push;
        }
        let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;
        let an = super::tracker::analysis_for(&env, &ns, &head).await?;
        let uid = an.uid().context("uid")?;
        let (code, detail) = env.gateway("GET", &format!("/v1/analyses/{uid}"), &key, None)?;
        ensure!(code == 200, "the analysis: {code} {detail}");
        let fingerprint = detail["repository"]["fingerprint"]
            .as_str()
            .context("the repository's fingerprint")?
            .to_owned();
        let metrics = &detail["metrics"]["stages"]["summarize"];

        // The repository's story covers every commit, whichever run wrote it last.
        let (code, story) = env.gateway(
            "GET",
            &format!("/v1/repositories/{fingerprint}/story"),
            &key,
            None,
        )?;
        ensure!(
            code == 200,
            "round {round}: the repository's story: {code} {story}"
        );
        ensure!(
            story["analysisId"] == uid.as_str(),
            "round {round}: the story is not the newest run's: {}",
            story["analysisId"]
        );
        let coverage = &story["story"]["coverage"];
        ensure!(
            coverage["wholeHistory"] == true
                && coverage["commits"] == total
                && coverage["lastCommit"] == head.as_str(),
            "round {round}: the story covers {coverage}, not the {total} commits up to {head}"
        );
        ensure!(
            story["markdown"]
                .as_str()
                .is_some_and(|md| md.contains(&format!("{total} commits"))),
            "round {round}: the story does not tell {total} commits: {}",
            story["markdown"]
        );

        // Only what changed went to the model, and nothing twice.
        let (sent, most) = model.counts();
        let misses = metrics["cacheMisses"].as_u64().context("cacheMisses")?;
        let hits = metrics["cacheHits"].as_u64().context("cacheHits")?;
        eprintln!(
            "e2e: living story round {round}: {} commits told, {} prompts sent ({} chunks summarized, {} from the cache)",
            total,
            sent - sent_before,
            misses,
            hits
        );
        let combined = metrics["combinations"].as_u64().context("combinations")?
            - metrics["combinationCacheHits"]
                .as_u64()
                .context("combinationCacheHits")?;
        ensure!(most == 1, "a prompt was sent to the model {most} times");
        // Every prompt is a call the run recorded: the chunks and combinations the model
        // summarized (those the budget gives it), and the overview. The model's answers cite
        // no commit, so its parts are left out of the story, but they are still made and cached.
        let calls = metrics["model"]["calls"].as_u64().context("model.calls")?;
        ensure!(
            u64::from(sent - sent_before) == calls,
            "round {round}: {} prompts sent, {calls} calls recorded",
            sent - sent_before
        );
        ensure!(
            calls == misses + combined + 1,
            "round {round}: {calls} calls for {misses} chunks, {combined} combinations and the overview"
        );
        ensure!(sent > sent_before, "round {round}: nothing was summarized");
        if round > 0 {
            ensure!(
                hits > 0,
                "round {round}: no chunk came from the account's cache: {metrics}"
            );
        }
        sent_before = sent;

        // Each run fetched into the tracker's clone cache: one clone, one more pack per run
        // (a run that cloned afresh into its scratch volume would leave it as it was).
        let packs = cached_packs(&cache_dir)?;
        ensure!(
            packs == round + 1,
            "round {round}: the clone cache holds {packs} packs, not {}",
            round + 1
        );
    }
    // The claim is the tracker's: it goes with it.
    let claim = env.kubectl_ok(&[
        "get",
        "pvc",
        "-n",
        &ns,
        "repo-clone-cache",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.status.phase}",
    ])?;
    ensure!(
        claim.trim() == "RepositoryTracker/repo Bound",
        "the clone cache's claim: {claim}"
    );
    Ok(())
}

/// The packs of the one clone in a clone cache's directory.
fn cached_packs(dir: &std::path::Path) -> anyhow::Result<usize> {
    let clones: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("the clone cache {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "git"))
        .collect();
    ensure!(clones.len() == 1, "clones in the cache: {clones:?}");
    Ok(std::fs::read_dir(clones[0].join("objects/pack"))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "pack"))
        .count())
}
