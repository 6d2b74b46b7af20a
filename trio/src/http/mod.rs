//! hyper 1.x on trio (feature `hyper`). Work in progress.
