//! Streaming overhead of `ai-proxy`: a paced SSE mock provider (OpenAI chat
//! completion chunks, one every `--pace-ms`) answered directly and through
//! strait, one request at a time on a kept-alive connection, candidates
//! alternating in rounds. Reports, for both, the time to first token and
//! each chunk's delivery delay, and what strait adds.
//!
//! The mock and the client live in this process (separate threads), so a
//! chunk's delay is measured on one clock: from the instant the mock hands
//! the chunk to its connection to the instant the client reads it. Through
//! strait the chunk is decoded, translated to the canonical model, counted
//! and encoded again on the way. With `--nginx URL` (nginx proxying to the
//! same mock with `proxy_buffering off`) a plain proxy runs as a reference:
//! on a 2-core VM every proxy pays two extra core crossings per chunk.
//!
//! Run by `bench/run.py` (scenario 8), which routes strait to the mock's port:
//! `cargo bench --bench llm_stream -- --port P --strait http://127.0.0.1:9080/paced/v1/chat/completions`
//! (`--requests 300 --chunks 20 --pace-ms 2`). The last line printed is JSON.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What marks a content chunk (`t<i> `) in the stream, either way.
const MARK: &[u8] = b"\"content\":\"t";
const BODY: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hello"}]}"#;

/// When the mock handed each chunk of the current answer to its connection.
type Stamps = Arc<Mutex<Vec<Instant>>>;

struct Args {
    port: u16,
    strait: String,
    nginx: Option<String>,
    requests: usize,
    chunks: usize,
    pace: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        port: 0,
        strait: String::new(),
        nginx: None,
        requests: 300,
        chunks: 20,
        pace: Duration::from_millis(2),
    };
    let argv: Vec<String> = std::env::args().collect();
    let value = |i: usize| argv.get(i + 1).cloned().unwrap_or_default();
    let number = |i: usize| {
        value(i)
            .parse::<u64>()
            .map_err(|_| format!("{} needs a number", argv[i]))
    };
    for (i, arg) in argv.iter().enumerate() {
        match arg.as_str() {
            "--port" => a.port = number(i)? as u16,
            "--strait" => a.strait = value(i),
            "--nginx" => a.nginx = Some(value(i)),
            "--requests" => a.requests = number(i)? as usize,
            "--chunks" => a.chunks = number(i)? as usize,
            "--pace-ms" => a.pace = Duration::from_millis(number(i)?),
            _ => {}
        }
    }
    if a.port == 0 || a.strait.is_empty() {
        return Err("usage: llm_stream --port P --strait URL [--nginx URL]".into());
    }
    Ok(a)
}

fn chunk(body: &str) -> Bytes {
    Bytes::from(format!("data: {body}\n\n"))
}

/// The mock's answer: `chunks` content chunks `pace` apart, a finish chunk,
/// a usage chunk and `[DONE]`, as OpenAI streams them.
async fn answer(
    req: Request<Incoming>,
    chunks: usize,
    pace: Duration,
    stamps: Stamps,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let _ = req.into_body().collect().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        if let Ok(mut s) = stamps.lock() {
            s.clear();
        }
        for i in 0..chunks {
            if i > 0 {
                tokio::time::sleep(pace).await;
            }
            let role = if i == 0 { r#""role":"assistant","# } else { "" };
            let ev = chunk(&format!(
                r#"{{"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[{{"index":0,"delta":{{{role}"content":"t{i} "}},"finish_reason":null}}]}}"#
            ));
            if let Ok(mut s) = stamps.lock() {
                s.push(Instant::now());
            }
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        let end = [
            chunk(
                r#"{"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ),
            chunk(&format!(
                r#"{{"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{{"prompt_tokens":5,"completion_tokens":{chunks},"total_tokens":{}}}}}"#,
                chunks + 5
            )),
            chunk("[DONE]"),
        ];
        for ev in end {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(BoxBody::new(StreamBody::new(frames)));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(resp)
}

fn start_mock(port: u16, chunks: usize, pace: Duration, stamps: Stamps) {
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return eprintln!("llm_stream: mock runtime: {e}"),
        };
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => l,
                Err(e) => return eprintln!("llm_stream: mock port {port}: {e}"),
            };
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let _ = sock.set_nodelay(true);
                let stamps = stamps.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        answer(req, chunks, pace, stamps.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
    });
}

/// One candidate: its connection and what it measured.
struct Candidate {
    name: &'static str,
    authority: String,
    path: String,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    ttft: Vec<Duration>,
    chunk_delay: Vec<Duration>,
}

impl Candidate {
    fn new(name: &'static str, url: &str) -> Result<Candidate, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{name}: {url} is not an http:// URL"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Candidate {
            name,
            authority: authority.to_string(),
            path: if path.is_empty() { "/" } else { path }.to_string(),
            sender: None,
            ttft: Vec::new(),
            chunk_delay: Vec::new(),
        })
    }

    async fn sender(
        &mut self,
    ) -> Result<&mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let sock = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| format!("{}: connect: {e}", self.name))?;
            let _ = sock.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(sock))
                .await
                .map_err(|e| format!("{}: handshake: {e}", self.name))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// One streamed request; records its TTFT and chunk delays when `keep`.
    async fn run(&mut self, stamps: &Stamps, chunks: usize, keep: bool) -> Result<(), String> {
        let req = Request::post(self.path.as_str())
            .header("host", self.authority.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            .map_err(|e| e.to_string())?;
        let name = self.name;
        let sender = self.sender().await?;
        let t0 = Instant::now();
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        if resp.status() != 200 {
            return Err(format!("{name}: status {}", resp.status()));
        }
        let mut body = resp.into_body();
        let mut received: Vec<Option<Instant>> = vec![None; chunks];
        let mut buf: Vec<u8> = Vec::new();
        let mut scanned = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("{name}: body: {e}"))?;
            let now = Instant::now();
            let Some(data) = frame.data_ref() else {
                continue;
            };
            buf.extend_from_slice(data);
            while let Some(pos) = buf[scanned..].windows(MARK.len()).position(|w| w == MARK) {
                let start = scanned + pos + MARK.len();
                let digits = buf[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if start + digits == buf.len() {
                    break; // the index continues in the next frame
                }
                let index: usize = std::str::from_utf8(&buf[start..start + digits])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(usize::MAX);
                if let Some(slot) = received.get_mut(index) {
                    slot.get_or_insert(now);
                }
                scanned = start + digits;
            }
        }
        let sent = stamps.lock().map(|s| s.clone()).unwrap_or_default();
        if sent.len() != chunks || received.iter().any(Option::is_none) {
            return Err(format!(
                "{name}: {} chunks sent, {} received",
                sent.len(),
                received.iter().flatten().count()
            ));
        }
        if keep {
            let first = received[0].unwrap_or(t0);
            self.ttft.push(first.saturating_duration_since(t0));
            for (got, at) in received.iter().flatten().zip(&sent) {
                self.chunk_delay.push(got.saturating_duration_since(*at));
            }
        }
        Ok(())
    }
}

fn percentile_us(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    if let Err(e) = run() {
        eprintln!("llm_stream: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let a = args()?;
    let stamps: Stamps = Arc::new(Mutex::new(Vec::new()));
    start_mock(a.port, a.chunks, a.pace, stamps.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;
    let direct = format!("http://127.0.0.1:{}/v1/chat/completions", a.port);
    let mut cands = vec![
        Candidate::new("direct", &direct)?,
        Candidate::new("strait", &a.strait)?,
    ];
    if let Some(nginx) = &a.nginx {
        cands.push(Candidate::new("nginx", nginx)?);
    }
    let rounds = 10;
    let per_round = a.requests.div_ceil(rounds);
    let result: Result<(), String> = rt.block_on(async {
        // The mock's listener comes up on its own thread.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", a.port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for c in cands.iter_mut() {
            for _ in 0..20 {
                c.run(&stamps, a.chunks, false).await?;
            }
        }
        for round in 0..rounds {
            let n = cands.len();
            for k in 0..n {
                let c = &mut cands[(round + k) % n];
                for _ in 0..per_round {
                    c.run(&stamps, a.chunks, true).await?;
                }
            }
        }
        Ok(())
    });
    result?;
    let mut out = serde_json::Map::new();
    let mut figures = Vec::new();
    for c in cands.iter_mut() {
        let f = [
            percentile_us(&mut c.ttft, 0.5),
            percentile_us(&mut c.ttft, 0.99),
            percentile_us(&mut c.chunk_delay, 0.5),
            percentile_us(&mut c.chunk_delay, 0.99),
        ];
        println!(
            "{}: {} requests, TTFT p50 {:.0} µs p99 {:.0} µs; {} chunks, delay p50 {:.0} µs p99 {:.0} µs",
            c.name,
            c.ttft.len(),
            f[0],
            f[1],
            c.chunk_delay.len(),
            f[2],
            f[3]
        );
        out.insert(
            c.name.to_string(),
            serde_json::json!({"requests": c.ttft.len(), "chunks": c.chunk_delay.len(),
                "ttft_p50_us": f[0], "ttft_p99_us": f[1], "chunk_p50_us": f[2], "chunk_p99_us": f[3]}),
        );
        figures.push(f);
    }
    // What each proxy adds over the direct path.
    for (k, key) in [(1, "added"), (2, "added_nginx")] {
        let Some(f) = figures.get(k) else {
            continue;
        };
        let d = |i: usize| f[i] - figures[0][i];
        out.insert(
            key.into(),
            serde_json::json!({"ttft_p50_us": d(0), "ttft_p99_us": d(1),
                "chunk_p50_us": d(2), "chunk_p99_us": d(3)}),
        );
    }
    out.insert(
        "setup".into(),
        serde_json::json!({"chunks": a.chunks, "pace_ms": a.pace.as_millis() as u64}),
    );
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
