//! No network unless granted: TCP connect to a live loopback listener, TCP
//! listen, UDP bind and name lookup must all fail.
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use airlock_test_programs::{ToolError, expect_denied, json};

airlock_test_programs::program! {
    name: "net-denied",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let port = input.get("port").and_then(airlock_test_programs::Value::as_u64)
            .ok_or_else(|| ToolError::invalid_input("`port` is required"))?;
        let target = format!("127.0.0.1:{port}");
        let results = vec![
            expect_denied(&format!("tcp connect {target}"), TcpStream::connect(&target))?,
            expect_denied("tcp listen", TcpListener::bind("127.0.0.1:0"))?,
            expect_denied("udp bind", UdpSocket::bind("127.0.0.1:0"))?,
            expect_denied("name lookup", ("localhost", 80).to_socket_addrs())?,
        ];
        Ok(json!({ "denied": results }))
    }
}
