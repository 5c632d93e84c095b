//! One attempt through a tower `Service`: wait until it is ready, then call it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::RetryRequest;
use crate::attempt::Attempt;
use crate::operation::Operation;

/// The [`Operation`] a [`RetryService`](super::RetryService) retries: a clone of the
/// request, sent through a clone of the inner service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceOperation<Svc, Req> {
    service: Svc,
    request: Req,
    send_keys: bool,
}

impl<Svc, Req> ServiceOperation<Svc, Req> {
    pub(crate) fn new(service: Svc, request: Req, send_keys: bool) -> Self {
        Self {
            service,
            request,
            send_keys,
        }
    }
}

impl<Svc, Req> Operation for ServiceOperation<Svc, Req>
where
    Svc: Service<Req> + Clone,
    Req: RetryRequest,
{
    type Ok = Svc::Response;
    type Err = Svc::Error;
    type Future = ReadyCall<Svc, Req>;

    fn start(&mut self, attempt: Attempt) -> Option<Self::Future> {
        let mut request = self.request.clone();
        if self.send_keys {
            request.attach_key(attempt.idempotency_key());
        }
        Some(ReadyCall {
            service: self.service.clone(),
            request: Some(request),
            response: None,
        })
    }

    fn finish(
        &mut self,
        output: Result<Svc::Response, Svc::Error>,
    ) -> Result<Svc::Response, Svc::Error> {
        output
    }
}

pin_project! {
    /// One attempt: polls the service until it is ready, then awaits its response.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub(crate) struct ReadyCall<Svc, Req>
    where
        Svc: Service<Req>,
    {
        service: Svc,
        request: Option<Req>,
        #[pin]
        response: Option<Svc::Future>,
    }
}

impl<Svc, Req> Future for ReadyCall<Svc, Req>
where
    Svc: Service<Req>,
{
    type Output = Result<Svc::Response, Svc::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(response) = this.response.as_mut().as_pin_mut() {
                return response.poll(cx);
            }
            ready!(this.service.poll_ready(cx))?;
            // The request is taken exactly once, as the response future is stored.
            let Some(request) = this.request.take() else {
                return Poll::Pending;
            };
            this.response.set(Some(this.service.call(request)));
        }
    }
}

impl<Svc, Req> std::fmt::Debug for ReadyCall<Svc, Req>
where
    Svc: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyCall")
            .field("sent", &self.request.is_none())
            .finish_non_exhaustive()
    }
}
