//! Synchronization primitives (Trio's `Event`, `Lock`, `StrictFIFOLock`,
//! `Semaphore`, `CapacityLimiter`, `Condition`).
