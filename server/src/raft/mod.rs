//! Raft under the state machine: every shard is an openraft group. This module declares the
//! type configuration; `log` adapts the node's fjall log store, `machine` the shard state
//! machine, `network` the peer transport, and `group` ties one group together with its
//! proposer (the batching of client commands into entries).

pub mod transport;
