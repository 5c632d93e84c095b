//! A scripted HTTP/1.1 server on 127.0.0.1, answering each request with the next reply
//! of its script and recording what it saw.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the server answers.
#[derive(Clone)]
pub enum Reply {
    /// This status, with these headers.
    Status(u16, Vec<(&'static str, String)>),
    /// A 503 whose `Retry-After` is a date this far ahead, in the given form.
    RetryAfterDate(Duration, DateForm),
    /// Nothing until the notify fires, then 200.
    Hold(Arc<Notify>),
}

#[derive(Clone, Copy, Debug)]
pub enum DateForm {
    ImfFixdate,
    Rfc850,
    Asctime,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub idempotency_key: Option<String>,
}

pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script_for_task, seen_for_task) = (script.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (script, seen) = (script_for_task.clone(), seen_for_task.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (script, seen) = (script.clone(), seen.clone());
                        async move { Ok::<_, Infallible>(answer(request, &script, &seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    request: Request<Incoming>,
    script: &Mutex<VecDeque<Reply>>,
    seen: &Mutex<Vec<Seen>>,
) -> Response<Full<Bytes>> {
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .map(|value| value.to_str().unwrap().to_owned());
    seen.lock().unwrap().push(Seen {
        method: request.method().to_string(),
        idempotency_key,
    });
    let reply = script.lock().unwrap().pop_front();
    let (status, headers) = match reply {
        None => (200, Vec::new()),
        Some(Reply::Status(status, headers)) => (status, headers),
        Some(Reply::RetryAfterDate(ahead, form)) => (
            503,
            vec![("retry-after", http_date(SystemTime::now() + ahead, form))],
        ),
        Some(Reply::Hold(notify)) => {
            notify.notified().await;
            (200, Vec::new())
        }
    };
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from_static(b"body")))
        .unwrap()
}

/// `time` in one of the three HTTP-date forms, built from the IMF-fixdate form.
pub fn http_date(time: SystemTime, form: DateForm) -> String {
    let imf = httpdate::fmt_http_date(time); // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (weekday, day, month, year, clock) = (
        &imf[0..3],
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    match form {
        DateForm::ImfFixdate => imf,
        DateForm::Rfc850 => {
            let long = match weekday {
                "Mon" => "Monday",
                "Tue" => "Tuesday",
                "Wed" => "Wednesday",
                "Thu" => "Thursday",
                "Fri" => "Friday",
                "Sat" => "Saturday",
                _ => "Sunday",
            };
            format!("{long}, {day}-{month}-{} {clock} GMT", &year[2..4])
        }
        DateForm::Asctime => {
            let day = day.trim_start_matches('0');
            format!("{weekday} {month} {day:>2} {clock} {year}")
        }
    }
}
