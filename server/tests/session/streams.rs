//! Streams over the wire: exact reply bytes of the real binary for XADD / XREADGROUP / XACK,
//! a blocked XREAD woken by another client's XADD, a blocked XREADGROUP timing out and one
//! whose stream is deleted, and XREAD's RESP3 map.

use std::time::Duration;

use crate::support::Node;

/// A consumer group reads new entries into its PEL, XACK clears them; XREAD BLOCK `$` gets
/// only what another client adds after it blocked; timeouts reply a null array; a deleted
/// stream ends a blocked XREADGROUP with Redis's error.
#[test]
fn stream_groups_and_blocking_reads() {
    let node = Node::start(&[]);
    let mut client = node.client();
    let mut reader = node.client();
    client.call("XADD s 1-1 f v", b"$3\r\n1-1\r\n");
    client.call("XGROUP CREATE s g 0", b"+OK\r\n");
    client.call(
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s >",
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
    );
    client.call("XPENDING s g", b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n");
    client.call("XACK s g 1-1 1-1", b":1\r\n");
    client.call("XPENDING s g", b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n");

    // Blocked on `$`: the entry added before the block is not delivered, the one after is.
    reader.send("XREAD BLOCK 0 STREAMS s $");
    std::thread::sleep(Duration::from_millis(200));
    client.call("XADD s 2-0 a b", b"$3\r\n2-0\r\n");
    reader.expect(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");

    // A group reader gets what the group has not delivered yet at once; blocked on `>`, it is
    // served by the next XADD.
    reader.call(
        "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >",
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    reader.send("XREADGROUP GROUP g bob BLOCK 0 STREAMS s >");
    std::thread::sleep(Duration::from_millis(200));
    client.call("XADD s 3-0 c d", b"$3\r\n3-0\r\n");
    reader.expect(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nc\r\n$1\r\nd\r\n");
    client.call("XINFO CONSUMERS s nog", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n");

    // Timeouts reply a null array.
    reader.call("XREAD BLOCK 50 STREAMS s $", b"*-1\r\n");
    reader.call("XREADGROUP GROUP g bob BLOCK 50 STREAMS s >", b"*-1\r\n");

    // The stream is deleted under a blocked group reader.
    reader.send("XREADGROUP GROUP g bob BLOCK 0 STREAMS s >");
    std::thread::sleep(Duration::from_millis(200));
    client.call("DEL s", b":1\r\n");
    reader.expect(b"-UNBLOCKED the stream key no longer exists\r\n");

    // RESP3: XREAD answers a map.
    client.call("XADD t 1-0 f v", b"$3\r\n1-0\r\n");
    reader.send("HELLO 3");
    while reader.read_line() != "*0" {}
    reader.call("XREAD STREAMS t 0", b"%1\r\n$1\r\nt\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    reader.call("TYPE t", b"+stream\r\n");
}
