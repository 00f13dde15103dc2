//! Server-sent events: an incremental parser for provider streams (chunks
//! split anywhere, `\n`, `\r\n` or `\r` line ends, comments, multi-line
//! data) and the writer client streams use.

use bytes::{BufMut, BytesMut};

use super::LlmError;

/// Longest event strait buffers while waiting for its end.
const MAX_EVENT_BYTES: usize = 16 << 20;

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The data.
    pub data: String,
}

/// Incremental SSE parser.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    skip_lf: bool,
    buffered: usize,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed bytes; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LlmError> {
        for &b in chunk {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.skip_lf = true;
                    self.end_line(out);
                }
                _ => {
                    self.line.push(b);
                    self.buffered += 1;
                    if self.buffered > MAX_EVENT_BYTES {
                        return Err(LlmError::provider(
                            "the provider's stream sent an event over 16 MiB",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The stream ended: a last event without its blank line still counts.
    pub fn end(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.find(':') {
            Some(0) => return, // a comment
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {} // id, retry and unknown fields do not matter here
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.buffered = 0;
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(SseEvent { event, data });
        }
    }
}

/// Append one event whose data is `data` as compact JSON (which has no
/// line breaks: one `data:` line), serialised straight into `out`.
pub fn write_json_event(out: &mut BytesMut, event: Option<&str>, data: &impl serde::Serialize) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_slice(b"\n");
    }
    out.put_slice(b"data: ");
    // Serialising strait's answer types cannot fail (string keys, finite numbers).
    let _ = serde_json::to_writer((&mut *out).writer(), data);
    out.put_slice(b"\n\n");
}

/// Append one event (`event:` line when named, one `data:` line per line of `data`).
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_slice(b"\n");
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_slice(b"\n");
    }
    out.put_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &str, size: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(size) {
            p.feed(piece, &mut out).unwrap();
        }
        p.end(&mut out);
        out
    }

    #[test]
    fn events_survive_any_split_and_line_ending() {
        let input = ": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\ndata: [DONE]\r\r";
        for size in 1..input.len() {
            let events = parse_in_pieces(input, size);
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: Some("message_start".into()),
                        data: "{\"a\":1}".into()
                    },
                    SseEvent {
                        event: None,
                        data: "x\ny".into()
                    },
                    SseEvent {
                        event: None,
                        data: "[DONE]".into()
                    },
                ],
                "split every {size} bytes"
            );
        }
    }

    #[test]
    fn a_last_event_without_blank_line_is_kept() {
        assert_eq!(
            parse_in_pieces("data: tail", 3),
            vec![SseEvent {
                event: None,
                data: "tail".into()
            }]
        );
    }

    #[test]
    fn writer_frames_multi_line_data() {
        let mut out = BytesMut::new();
        write_event(&mut out, Some("ping"), "a\nb");
        assert_eq!(&out[..], b"event: ping\ndata: a\ndata: b\n\n");
    }
}
