//! The device's requests: sent on a command, resent on a reconnect, answered by the switchboard
//! or timed out by the client, and what an answer does to the device's view.

use super::{bump, Client, Output, Timer, PENDING_REQUESTS_MAX, TIMED_OUT_KEPT};
use crate::call::CallView;
use crate::error::{ClientError, ErrorCode};
use crate::ids::{ConnectionId, RequestId};
use crate::message::{ClientMsg, Request};

/// A request waiting for its answer (or, among the timed-out ones, for its late answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) id: RequestId,
    pub(super) request: Request,
}

impl Client {
    pub(super) fn command(&mut self, now_ms: u64, request: Request) -> Result<RequestId, ClientError> {
        self.now_ms = self.now_ms.max(now_ms);
        if self.connected && self.pending.len() >= PENDING_REQUESTS_MAX {
            return Err(ClientError::TooManyPending);
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if !self.connected {
            let result = Err(ErrorCode::NotConnected);
            self.outputs.push_back(Output::Answer { id, request, result });
            return Ok(id);
        }
        bump(&mut self.counts.requests);
        self.pending.push(Pending { id, request });
        let answered_below = self.answered_below();
        self.outputs.push_back(Output::Send(ClientMsg::Request { id, request, answered_below }));
        let at_ms = now_ms.saturating_add(self.request_timeout_ms);
        self.outputs.push_back(Output::SetTimer { timer: Timer::Request(id), at_ms });
        Ok(id)
    }

    pub(super) fn handle_connected(&mut self, now_ms: u64, conn: ConnectionId) {
        self.now_ms = self.now_ms.max(now_ms);
        self.connected = true;
        self.conn = conn;
        self.connections = self.connections.saturating_add(1);
        let answered_below = self.answered_below();
        for p in &self.pending {
            bump(&mut self.counts.resent);
            let msg = ClientMsg::Request { id: p.id, request: p.request, answered_below };
            self.outputs.push_back(Output::Send(msg));
        }
    }

    /// The lowest request id still waiting for its answer (the switchboard may forget the answers
    /// below it); with none waiting, the next id.
    fn answered_below(&self) -> RequestId {
        debug_assert!(self.pending.windows(2).all(|w| w[0].id < w[1].id), "pending in id order");
        RequestId(self.pending.first().map_or(self.next_request, |p| p.id.0))
    }

    pub(super) fn handle_timeout(&mut self, now_ms: u64, timer: Timer) {
        self.now_ms = self.now_ms.max(now_ms);
        let Timer::Request(id) = timer;
        if let Some(i) = self.pending.iter().position(|p| p.id == id) {
            let p = self.pending.remove(i);
            bump(&mut self.counts.timeouts);
            let result = Err(ErrorCode::Timeout);
            self.outputs.push_back(Output::Answer { id, request: p.request, result });
            let timed_out = &mut self.rare.get_or_insert_with(Box::default).timed_out;
            if timed_out.len() == TIMED_OUT_KEPT {
                timed_out.remove(0);
            }
            timed_out.push(p);
            if matches!(p.request, Request::Initiate { .. }) {
                self.release_held();
            }
        }
    }

    pub(super) fn handle_answer(
        &mut self,
        id: RequestId,
        result: Result<Option<CallView>, ErrorCode>,
    ) -> Result<(), ClientError> {
        let request = match self.pending.iter().position(|p| p.id == id) {
            Some(i) => {
                let Pending { request, .. } = self.pending.remove(i);
                #[cfg(feature = "plant")]
                if crate::plant::on(crate::plant::Plant::RequestTimerKept) {
                    self.pending.insert(i, Pending { id, request });
                }
                self.outputs.push_back(Output::CancelTimer { timer: Timer::Request(id) });
                self.outputs.push_back(Output::Answer { id, request, result });
                request
            }
            None => {
                // An answer after the request timed out: the application was told `timeout`
                // already and is not told twice, but the device's view takes the call object
                // (the switchboard sends the requester nothing else about its own action).
                let timed_out = self.rare.as_mut().map(|r| &mut r.timed_out);
                let Some((timed_out, late)) =
                    timed_out.and_then(|t| t.iter().position(|p| p.id == id).map(|i| (t, i)))
                else {
                    return self.forgotten_answer(id, result);
                };
                let Pending { request, .. } = timed_out.remove(late);
                bump(&mut self.counts.late_answers);
                #[cfg(feature = "plant")]
                if crate::plant::on(crate::plant::Plant::LateAnswerDropped) {
                    return Ok(());
                }
                request
            }
        };
        // A push registration's answer names no call: a call object in one is the switchboard's
        // mistake, and the view does not take it from there.
        if let (Ok(Some(view)), true) = (result, request.is_call_request()) {
            let index = self.upsert(view)?;
            let call = &mut self.calls[index];
            call.stage = match request {
                Request::Initiate { .. }
                | Request::StartSession { .. }
                | Request::RegisterPush
                | Request::UnregisterPush => call.stage,
                Request::Accept { .. } => call.stage.join(call.role),
                Request::Reject { .. } | Request::End { .. } => call.stage.close(),
            };
        }
        if matches!(request, Request::Initiate { .. }) {
            self.release_held();
        }
        Ok(())
    }

    /// An answer to no request the client remembers. If the client issued that id, the request
    /// timed out and fell out of the `TIMED_OUT_KEPT` remembered: the answer is still the
    /// switchboard's word on the call, and the view takes it (silently, as a late answer). It
    /// may be the only word the device gets, since the switchboard sends the device that asked
    /// nothing else about its own action. Without the request, the device's own part in the
    /// call (whether it joined) stays unknown. An id the client never issued is dropped.
    fn forgotten_answer(
        &mut self,
        id: RequestId,
        result: Result<Option<CallView>, ErrorCode>,
    ) -> Result<(), ClientError> {
        if id.0 == 0 || id.0 >= self.next_request {
            bump(&mut self.counts.dropped);
            return Err(ClientError::UnknownRequest(id));
        }
        bump(&mut self.counts.late_answers);
        if let Ok(Some(view)) = result {
            self.upsert(view)?;
        }
        Ok(())
    }
}
