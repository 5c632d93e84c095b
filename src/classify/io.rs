use std::io::{self, ErrorKind};

use super::{Classify, Decision};

/// Classifies [`std::io::Error`]s by kind: network and interruption errors are
/// transient, everything else (not found, permission denied, invalid data, ...) is
/// permanent.
///
/// Transient kinds: `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted`,
/// `NotConnected`, `BrokenPipe`, `TimedOut`, `Interrupted`, `WouldBlock`,
/// `UnexpectedEof`, `AddrNotAvailable`, `HostUnreachable`, `NetworkUnreachable`,
/// `NetworkDown` and `ResourceBusy`. Of these, the ones a connection attempt fails with
/// before anything is sent (`ConnectionRefused`, `AddrNotAvailable`,
/// `HostUnreachable`, `NetworkUnreachable`, `NetworkDown`) are
/// [`Decision::RetryUnsent`], safe to retry even for operations that are not
/// idempotent.
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use steadfast::{Classify, Decision, IoErrors};
///
/// let refused: Result<(), _> = Err(Error::from(ErrorKind::ConnectionRefused));
/// assert_eq!(IoErrors.classify(&refused), Decision::RetryUnsent);
///
/// let reset: Result<(), _> = Err(Error::from(ErrorKind::ConnectionReset));
/// assert_eq!(IoErrors.classify(&reset), Decision::Retry);
///
/// let missing: Result<(), _> = Err(Error::from(ErrorKind::NotFound));
/// assert_eq!(IoErrors.classify(&missing), Decision::Fail);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoErrors;

impl IoErrors {
    /// Whether an error of this kind is worth another attempt.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// assert!(steadfast::IoErrors::is_transient(ErrorKind::TimedOut));
    /// assert!(!steadfast::IoErrors::is_transient(ErrorKind::PermissionDenied));
    /// ```
    #[must_use]
    pub fn is_transient(kind: ErrorKind) -> bool {
        matches!(
            kind,
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::NotConnected
                | ErrorKind::BrokenPipe
                | ErrorKind::TimedOut
                | ErrorKind::Interrupted
                | ErrorKind::WouldBlock
                | ErrorKind::UnexpectedEof
                | ErrorKind::AddrNotAvailable
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::NetworkDown
                | ErrorKind::ResourceBusy
        )
    }
}

impl IoErrors {
    /// Whether an error of this kind means the connection was never made, so nothing
    /// was sent.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// assert!(steadfast::IoErrors::is_unsent(ErrorKind::ConnectionRefused));
    /// assert!(!steadfast::IoErrors::is_unsent(ErrorKind::ConnectionReset));
    /// ```
    #[must_use]
    pub fn is_unsent(kind: ErrorKind) -> bool {
        matches!(
            kind,
            ErrorKind::ConnectionRefused
                | ErrorKind::AddrNotAvailable
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::NetworkDown
        )
    }

    /// The decision for one error.
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use steadfast::{Decision, IoErrors};
    /// assert_eq!(IoErrors::decision_for(&Error::from(ErrorKind::NotFound)), Decision::Fail);
    /// ```
    #[must_use]
    pub fn decision_for(error: &io::Error) -> Decision {
        match error.kind() {
            kind if Self::is_unsent(kind) => Decision::RetryUnsent,
            kind if Self::is_transient(kind) => Decision::Retry,
            _ => Decision::Fail,
        }
    }
}

impl<T> Classify<T, io::Error> for IoErrors {
    fn classify(&self, outcome: &Result<T, io::Error>) -> Decision {
        match outcome {
            Ok(_) => Decision::Success,
            Err(error) => Self::decision_for(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_gets_the_decision_the_docs_list() {
        use ErrorKind::*;
        let unsent = [
            ConnectionRefused,
            AddrNotAvailable,
            HostUnreachable,
            NetworkUnreachable,
            NetworkDown,
        ];
        let transient = [
            ConnectionReset,
            ConnectionAborted,
            NotConnected,
            BrokenPipe,
            TimedOut,
            Interrupted,
            WouldBlock,
            UnexpectedEof,
            ResourceBusy,
        ];
        let permanent = [
            NotFound,
            PermissionDenied,
            InvalidInput,
            InvalidData,
            AlreadyExists,
            Unsupported,
            OutOfMemory,
            Other,
        ];
        let decide = |kind| IoErrors.classify(&Err::<(), _>(io::Error::from(kind)));
        for kind in unsent {
            assert_eq!(decide(kind), Decision::RetryUnsent, "{kind:?}");
        }
        for kind in transient {
            assert_eq!(decide(kind), Decision::Retry, "{kind:?}");
        }
        for kind in permanent {
            assert!(!IoErrors::is_transient(kind), "{kind:?}");
            assert_eq!(decide(kind), Decision::Fail, "{kind:?}");
        }
        assert_eq!(
            IoErrors.classify(&Ok::<_, io::Error>(())),
            Decision::Success
        );
    }
}
