//! A scripted HTTP server on 127.0.0.1 for the model clients' tests: one connection per
//! answer, in order; it hands back the requests it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// Status line (`429 Too Many Requests`), extra header lines (each ending in `\r\n`), body
    /// (sent as JSON).
    Reply(&'static str, &'static str, String),
    /// Reads the request and answers nothing until the client gives up and closes the
    /// connection (its timeout).
    Stall,
}

impl From<(&'static str, &'static str, String)> for Answer {
    fn from((status, headers, body): (&'static str, &'static str, String)) -> Self {
        Self::Reply(status, headers, body)
    }
}

/// A request the server received: its head (request line and headers) and body.
pub(crate) type Received = (String, String);

/// Serves `answers` on 127.0.0.1, one connection each; returns the base address
/// (`http://127.0.0.1:port`) and the requests received.
pub(crate) fn serve(
    answers: impl IntoIterator<Item = impl Into<Answer>>,
) -> (String, JoinHandle<Vec<Received>>) {
    let answers: Vec<Answer> = answers.into_iter().map(Into::into).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut received = Vec::new();
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            received.push((head, String::from_utf8(request_body).unwrap()));
            match answer {
                Answer::Reply(status, headers, body) => {
                    let mut stream = reader.into_inner();
                    write!(
                        stream,
                        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .unwrap();
                    stream.flush().unwrap();
                }
                Answer::Stall => {
                    // Blocks until the client closes its end (end of file or a reset).
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest);
                }
            }
        }
        received
    });
    (address, handle)
}
