//! `AMQPRPCClient` and `AMQPRPCServer`.

use super::*;

// ----- RPC -------------------------------------------------------------------------------------

/// A reusable RPC client (direct reply-to); calls in flight during a reconnect are sent again
/// on the new connection within their timeout.
#[wasm_bindgen(js_name = AMQPRPCClient)]
pub struct JsRpcClient {
    pub(super) st: Rc<SessionState>,
    pub(super) client: RpcClient,
}

#[wasm_bindgen(js_class = AMQPRPCClient)]
impl JsRpcClient {
    /// Sends `body` to `queue` and resolves with the reply; rejects after `timeout` ms, when
    /// `signal` aborts, or with the server's error (an error reply).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPMessage>")]
    pub fn call(
        &self,
        queue: String,
        #[wasm_bindgen(unchecked_param_type = "unknown")] body: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RPCCallOptions")] options: Option<JsValue>,
    ) -> Promise {
        let op = rpc_op(self.client.clone(), false, queue, body, opts(&options));
        op_promise(&self.st, op)
    }

    /// Ends the client: pending calls fail, its channel closes.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        op_promise(&self.st, Ok(Op::RpcClose(self.client.clone())))
    }
}

/// An RPC server ([`AMQPSession.rpcServer`]).
#[wasm_bindgen(js_name = AMQPRPCServer)]
pub struct JsRpcServer {
    pub(super) server: RpcServer,
}

#[wasm_bindgen(js_class = AMQPRPCServer)]
impl JsRpcServer {
    /// The queue it answers on.
    #[wasm_bindgen(getter)]
    pub fn queue(&self) -> String {
        self.server.queue().to_owned()
    }

    /// Stops answering (the queue stays).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.server.close();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}
