//! Error texts of the server's own commands (connection, session, server administration),
//! byte for byte as Redis sends them. Keyspace errors live in flotilla_storage::errors.

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str =
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// A script or function that declares flags without `allow-oom` (or `no-writes`), over
/// `maxmemory` (Redis 7.0's `scriptPrepareForRun`).
pub const OOM_SCRIPT: &str = "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'";
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";
pub const NO_SHUTDOWN_IN_PROGRESS: &str = "ERR No shutdown in progress.";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const SYNTAX: &str = flotilla_storage::errors::SYNTAX;
pub const NOT_INTEGER: &str = flotilla_storage::errors::NOT_INTEGER;
pub const DB_INDEX_OUT_OF_RANGE: &str = flotilla_storage::errors::DB_INDEX_OUT_OF_RANGE;
