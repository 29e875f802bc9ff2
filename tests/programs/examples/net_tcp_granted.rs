//! With a grant for one TCP address:port, that connection works and
//! nothing else does: another port, listening, UDP and name lookup all fail.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use airlock_test_programs::{ToolError, Value, expect_denied, json};

airlock_test_programs::program! {
    name: "net-tcp-granted",
    capabilities: airlock_test_programs::Capabilities::none()
        .host("tcp://127.0.0.0/8:1-65535", "a loopback service the test grants"),
    run: |input| {
        let port = input.get("port").and_then(Value::as_u64)
            .ok_or_else(|| ToolError::invalid_input("`port` is required"))?;
        let target = format!("127.0.0.1:{port}");
        let mut stream = TcpStream::connect(&target)
            .map_err(|e| ToolError::failed(format!("connect {target}: {e}")))?;
        stream.write_all(b"ping").map_err(ToolError::failed)?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).map_err(ToolError::failed)?;
        let other = format!("127.0.0.1:{}", port + 1);
        let denied = vec![
            expect_denied(&format!("tcp connect {other}"), TcpStream::connect(&other))?,
            expect_denied("tcp listen", TcpListener::bind("127.0.0.1:0"))?,
            expect_denied("udp send", UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"x", &target)))?,
            expect_denied("name lookup", ("localhost", 80).to_socket_addrs())?,
        ];
        Ok(json!({ "reply": reply, "denied": denied }))
    }
}
