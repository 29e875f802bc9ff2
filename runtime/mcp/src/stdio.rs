//! MCP over a byte stream pair: the process's stdin and stdout, or any pipe.
//!
//! Only MCP messages are written to the output: tools' stdout and stderr
//! are captured by the sandbox, and the server's own log goes to stderr.

use std::os::fd::AsFd;

use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

use crate::error::ServeError;
use crate::handler::AirlockServer;

/// Serves `server` on `input`/`output` until the client closes the input.
pub async fn serve<R, W>(server: AirlockServer, input: R, output: W) -> Result<(), ServeError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let running = server.serve((input, output)).await.map_err(|e| ServeError::Session(e.to_string()))?;
    running.waiting().await.map_err(|e| ServeError::Session(e.to_string()))?;
    Ok(())
}

/// Serves `server` on the process's stdin and stdout until the client
/// closes stdin.
///
/// When both are pipes (how an agent host starts an MCP server), they are
/// read and written by the async runtime's own event loop: a message costs
/// no thread hand-off. This puts both pipes in non-blocking mode, which
/// every process sharing the same pipe end sees. Anything else (a
/// terminal, a file, a socket) goes through tokio's stdin and stdout,
/// which read and write on a blocking thread.
pub async fn serve_process_stdio(server: AirlockServer) -> Result<(), ServeError> {
    match (stdin_pipe(), stdout_pipe()) {
        (Ok(input), Ok(output)) => serve(server, input, output).await,
        _ => serve(server, tokio::io::stdin(), tokio::io::stdout()).await,
    }
}

/// Stdin as a pipe the runtime polls, if it is a pipe.
fn stdin_pipe() -> std::io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(std::io::stdin().as_fd().try_clone_to_owned()?)
}

/// Stdout as a pipe the runtime polls, if it is a pipe.
fn stdout_pipe() -> std::io::Result<pipe::Sender> {
    pipe::Sender::from_owned_fd(std::io::stdout().as_fd().try_clone_to_owned()?)
}
