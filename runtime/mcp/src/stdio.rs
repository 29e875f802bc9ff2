//! MCP over a byte stream pair: the process's stdin and stdout, or any pipe.
//!
//! Only MCP messages are written to the output: tools' stdout and stderr
//! are captured by the sandbox, and the server's own log goes to stderr.

use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite};

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
