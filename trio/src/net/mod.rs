//! Networking (Trio's socket layer and high-level networking): TCP, Unix and UDP
//! sockets on the core's reactor.
