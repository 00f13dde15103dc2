//! A minimal asynchronous Redis client for plugins that keep state in Redis
//! (`limit-count`, `limit-req` with `policy: redis`): RESP2 over a plain
//! TCP connection, `AUTH`/`SELECT` on every new connection, a small pool of
//! idle connections per server and settings, one deadline per command
//! (`redis_timeout`), and `EVALSHA` falling back to `EVAL` on `NOSCRIPT`.
//! A connection that saw any error is dropped, so the next command reconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest bulk string or array accepted from the server.
const MAX_LEN: i64 = 16 * 1024 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedisConf {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// ACL user (`AUTH user pass`).
    pub username: Option<String>,
    /// Password (`AUTH`), when set.
    pub password: Option<String>,
    /// Database (`SELECT`), when not 0.
    pub database: u64,
    /// Deadline of a connect and of each command.
    pub timeout: Duration,
    /// Idle connections kept.
    pub max_idle: usize,
}

/// A reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …` (a reply, not a transport error).
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$…`; `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*…`; `None` for the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// An integer, or a bulk string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// A number from an integer or a bulk string (`"12.5"`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Reply::Int(i) => Some(*i as f64),
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Connecting, reading or writing failed.
    #[error("redis {0}: {1}")]
    Io(String, std::io::Error),
    /// The deadline passed.
    #[error("redis {0}: timeout")]
    Timeout(String),
    /// The server answered with an error.
    #[error("redis error: {0}")]
    Server(String),
    /// The server sent something that is not RESP.
    #[error("redis protocol error: {0}")]
    Protocol(String),
}

/// Encode a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parse one reply from the start of `buf`: the reply and the bytes it took,
/// `Ok(None)` when more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, RedisError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, rest)) = buf[..end].split_first() else {
        return Err(RedisError::Protocol("empty line".into()));
    };
    let line = String::from_utf8_lossy(rest).into_owned();
    let after = end + 2;
    let number = || {
        line.parse::<i64>()
            .map_err(|_| RedisError::Protocol(format!("bad length `{line}`")))
    };
    match kind {
        b'+' => Ok(Some((Reply::Status(line), after))),
        b'-' => Ok(Some((Reply::Error(line), after))),
        b':' => Ok(Some((Reply::Int(number()?), after))),
        b'$' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), after)));
            }
            if n > MAX_LEN {
                return Err(RedisError::Protocol(format!("bulk of {n} bytes")));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Reply::Bulk(Some(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), after)));
            }
            if n > MAX_LEN {
                return Err(RedisError::Protocol(format!("array of {n} items")));
            }
            let mut items = Vec::with_capacity(n.min(64) as usize);
            let mut at = after;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        other => Err(RedisError::Protocol(format!(
            "unexpected type byte {:?}",
            other as char
        ))),
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        self.stream
            .write_all(&encode(args))
            .await
            .map_err(|e| RedisError::Io("write".into(), e))?;
        loop {
            if let Some((reply, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            if self.buf.len() as i64 > MAX_LEN + 64 {
                return Err(RedisError::Protocol("reply too large".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| RedisError::Io("read".into(), e))?;
            if n == 0 {
                return Err(RedisError::Io(
                    "read".into(),
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A pool of connections to one server with one set of settings.
pub struct RedisPool {
    conf: RedisConf,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisPool({}:{})", self.conf.host, self.conf.port)
    }
}

impl RedisPool {
    /// The shared pool for `conf` (one per distinct settings, as APISIX names
    /// its keepalive pools by host, port, database and credentials).
    pub fn shared(conf: RedisConf) -> Arc<RedisPool> {
        static POOLS: OnceLock<Mutex<HashMap<RedisConf, Arc<RedisPool>>>> = OnceLock::new();
        let mut pools = POOLS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        pools
            .entry(conf.clone())
            .or_insert_with(|| {
                Arc::new(RedisPool {
                    conf,
                    idle: Mutex::new(Vec::new()),
                })
            })
            .clone()
    }

    async fn connect(&self) -> Result<Conn, RedisError> {
        let addr = format!("{}:{}", self.conf.host, self.conf.port);
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| RedisError::Io(format!("connect {addr}"), e))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
        };
        if let Some(pass) = &self.conf.password {
            let reply = match &self.conf.username {
                Some(user) => {
                    conn.call(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                        .await?
                }
                None => conn.call(&[b"AUTH", pass.as_bytes()]).await?,
            };
            if let Reply::Error(e) = reply {
                return Err(RedisError::Server(e));
            }
        }
        if self.conf.database != 0 {
            let db = self.conf.database.to_string();
            if let Reply::Error(e) = conn.call(&[b"SELECT", db.as_bytes()]).await? {
                return Err(RedisError::Server(format!(
                    "failed to change redis db, err: {e}"
                )));
            }
        }
        Ok(conn)
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.conf.max_idle {
            idle.push(conn);
        }
    }

    /// Run one command; a server error reply comes back as [`Reply::Error`].
    pub async fn call(&self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        let timeout = self.conf.timeout;
        // A pooled connection may have been closed by the server meanwhile:
        // one retry on a fresh connection.
        if let Some(mut conn) = self.take_idle() {
            match tokio::time::timeout(timeout, conn.call(args)).await {
                Ok(Ok(reply)) => {
                    self.give_back(conn);
                    return Ok(reply);
                }
                // Closed while idle: the command did not run; try a fresh one.
                Ok(Err(RedisError::Io(..))) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(self.timeout_error()),
            }
        }
        let fresh = async {
            let mut conn = self.connect().await?;
            let reply = conn.call(args).await?;
            Ok::<_, RedisError>((conn, reply))
        };
        match tokio::time::timeout(timeout, fresh).await {
            Ok(Ok((conn, reply))) => {
                self.give_back(conn);
                Ok(reply)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.timeout_error()),
        }
    }

    fn timeout_error(&self) -> RedisError {
        RedisError::Timeout(format!("{}:{}", self.conf.host, self.conf.port))
    }

    /// Run a Lua script by its SHA1, loading it with `EVAL` when the server
    /// does not know it.
    pub async fn eval(
        &self,
        script: &Script,
        keys: &[&[u8]],
        argv: &[&[u8]],
    ) -> Result<Reply, RedisError> {
        let n = keys.len().to_string();
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", script.sha.as_bytes(), n.as_bytes()];
        args.extend_from_slice(keys);
        args.extend_from_slice(argv);
        let reply = self.call(&args).await?;
        let reply = match reply {
            Reply::Error(e) if e.starts_with("NOSCRIPT") => {
                args[0] = b"EVAL";
                args[1] = script.text.as_bytes();
                self.call(&args).await?
            }
            other => other,
        };
        match reply {
            Reply::Error(e) => Err(RedisError::Server(e)),
            other => Ok(other),
        }
    }
}

/// A Lua script with its SHA1 (for `EVALSHA`).
#[derive(Debug)]
pub struct Script {
    text: &'static str,
    sha: String,
}

impl Script {
    /// Hash `text` once.
    pub fn new(text: &'static str) -> Script {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
        let sha = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Script { text, sha }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn parses_replies() {
        assert_eq!(
            parse(b"+OK\r\n").unwrap(),
            Some((Reply::Status("OK".into()), 5))
        );
        assert_eq!(parse(b":42\r\n").unwrap().unwrap().0, Reply::Int(42));
        assert_eq!(parse(b"$-1\r\n").unwrap().unwrap().0, Reply::Bulk(None));
        assert_eq!(parse(b"$3\r\nab").unwrap(), None, "incomplete bulk");
        let (r, used) = parse(b"*2\r\n:1\r\n$2\r\nhi\r\n+x").unwrap().unwrap();
        assert_eq!(
            r,
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"hi".to_vec()))]))
        );
        assert_eq!(used, 16);
        assert_eq!(parse(b"*2\r\n:1\r\n").unwrap(), None, "incomplete array");
        assert!(parse(b"?x\r\n").is_err());
        assert_eq!(
            parse(b"-NOSCRIPT no\r\n").unwrap().unwrap().0,
            Reply::Error("NOSCRIPT no".into())
        );
    }

    #[test]
    fn script_sha1() {
        // sha1("return 1")
        assert_eq!(
            Script::new("return 1").sha,
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
