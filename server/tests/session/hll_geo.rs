//! HyperLogLog and GEO over the wire: exact reply bytes of the real binary, the stored bytes
//! of an HLL (Redis's layout, so a value moves between Redis and Flotilla by GET/SET or
//! DUMP/RESTORE), and the reply shapes redis-cli and client libraries parse.

use crate::support::{request, Node};

/// PFADD/PFCOUNT/PFMERGE, the stored bytes (as redis-server 7.0.15 stores `PFADD h a b c`),
/// a RESTORE of Redis's own DUMP payload, and the error for a string that is not an HLL.
#[test]
fn hyperloglog_commands() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("PFADD h a b c", b":1\r\n");
    client.call("PFADD h a", b":0\r\n");
    client.call("PFCOUNT h", b":3\r\n");
    let stored: &[u8] = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ";
    client.send("GET h");
    client.expect(format!("${}\r\n", stored.len()).as_bytes());
    client.expect(stored);
    client.expect(b"\r\n");
    // DUMP payload of that value from redis-server 7.0.15 (RDB version 10).
    let payload: &[u8] = b"\x00\x1bHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ\n\x00\x9fY\x0c\x06\xb6IpI";
    client.send_raw(&request(&[b"RESTORE", b"r", b"0", payload]));
    client.expect(b"+OK\r\n");
    client.call("PFCOUNT r", b":3\r\n");
    client.call("PFADD g c d e", b":1\r\n");
    client.call("PFCOUNT h g", b":5\r\n");
    client.call("PFMERGE m h g", b"+OK\r\n");
    client.call("PFCOUNT m", b":5\r\n");
    client.call("PFDEBUG ENCODING m", b"+sparse\r\n");
    client.call("PFDEBUG TODENSE m", b":1\r\n");
    client.call("PFCOUNT m", b":5\r\n");
    client.call("STRLEN m", b":12304\r\n");
    client.call("SET s notanhll", b"+OK\r\n");
    client.call("PFADD s x", b"-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
    client.call("PFCOUNT s h", b"-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
    client.call("PFADD", b"-ERR wrong number of arguments for 'pfadd' command\r\n");
    client.call(
        "COMMAND INFO pfcount",
        b"*1\r\n*10\r\n$7\r\npfcount\r\n:-2\r\n*2\r\n+readonly\r\n+may_replicate\r\n:1\r\n:-1\r\n:1\r\n*3\r\n+@read\r\n+@hyperloglog\r\n+@slow\r\n*0\r\n\
          *1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RW\r\n+access\r\n\
          $12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
          $9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n\
          *6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    );
}

/// GEO replies byte for byte as redis-server 7.0.15 sends them for the same commands, in RESP2
/// and RESP3 (coordinates as doubles there), and the scores GEOADD stores.
#[test]
fn geo_commands() {
    let node = Node::start(&[]);
    let mut client = node.client();
    client.call("GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania", b":2\r\n");
    client.call(
        "ZRANGE Sicily 0 -1 WITHSCORES",
        b"*4\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n",
    );
    client.call("GEODIST Sicily Palermo Catania km", b"$8\r\n166.2742\r\n");
    client.call("GEOHASH Sicily Palermo x", b"*2\r\n$11\r\nsqc8b49rny0\r\n$-1\r\n");
    client.call(
        "GEOPOS Sicily Palermo nope",
        b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n",
    );
    client.call(
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST",
        b"*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n",
    );
    client.call("GEORADIUS Sicily 15 37 200 km STORE {Sicily}out", b":2\r\n");
    client.call("ZCARD {Sicily}out", b":2\r\n");
    client.call(
        "GEOADD Sicily 200 100 bad",
        b"-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n",
    );
    client.call("COMMAND GETKEYS GEORADIUS Sicily 15 37 200 km STORE dst", b"*2\r\n$6\r\nSicily\r\n$3\r\ndst\r\n");
    client.send("HELLO 3");
    assert_eq!(client.read_line(), "%7");
    while client.read_line() != "*0" {}
    client.call(
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHCOORD WITHDIST WITHHASH",
        b"*2\r\n*4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n\
*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n",
    );
}
