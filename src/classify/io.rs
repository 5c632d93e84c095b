use std::io::{self, ErrorKind};

use super::{Classify, Decision};

/// Classifies [`std::io::Error`]s by kind: network and interruption errors are
/// transient, everything else (not found, permission denied, invalid data, ...) is
/// permanent.
///
/// Transient kinds: `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted`,
/// `NotConnected`, `BrokenPipe`, `TimedOut`, `Interrupted`, `WouldBlock`,
/// `UnexpectedEof`, `AddrNotAvailable`, `HostUnreachable`, `NetworkUnreachable`,
/// `NetworkDown` and `ResourceBusy`.
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use steadfast::{Classify, Decision, IoErrors};
///
/// let refused: Result<(), _> = Err(Error::from(ErrorKind::ConnectionRefused));
/// assert_eq!(IoErrors.classify(&refused), Decision::Retry);
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

impl<T> Classify<T, io::Error> for IoErrors {
    fn classify(&self, outcome: &Result<T, io::Error>) -> Decision {
        match outcome {
            Ok(_) => Decision::Success,
            Err(error) if Self::is_transient(error.kind()) => Decision::Retry,
            Err(_) => Decision::Fail,
        }
    }
}
