//! TLS streams on rustls (feature `tls`). Work in progress.
