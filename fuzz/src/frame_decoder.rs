//! The `frame_decoder` target: any bytes into the live server's frame decoder
//! (`callcore_live::protocol::decode_client_frame`) and the SDK's (`decode_server_frame`). It
//! checks:
//!
//! - decoding never panics: a frame that is not valid is an error with a code;
//! - a frame that decodes encodes back to text that decodes to the same frame;
//! - every decoding error makes an error frame that encodes and decodes on the client's side.

use callcore_live::protocol::{decode_client_frame, decode_server_frame, encode_client_frame, ServerFrame};

/// Runs one input; panics on the first violation.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = decode_server_frame(text);
    match decode_client_frame(text) {
        Ok(frame) => {
            let written = encode_client_frame(&frame);
            match decode_client_frame(&written) {
                Ok(again) => assert_eq!(again, frame, "the frame changed through JSON: {written}"),
                Err(e) => panic!("a decoded frame, written back, does not decode: {e}\n{written}"),
            }
        }
        Err(error) => {
            let frame = ServerFrame::error(&error);
            let written = frame.encode();
            let again = decode_server_frame(&written).expect("an error frame decodes");
            assert_eq!(again, frame, "the error frame changed through JSON: {written}");
        }
    }
}
