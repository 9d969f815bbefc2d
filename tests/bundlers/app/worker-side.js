// Worker side: answers the page's first message with the round trip's verdict.
import { failure, roundTrip } from "./roundtrip.js";

export function answer(AMQPWebSocketClient, port) {
  return (e) => {
    const { ws, label } = e.data;
    roundTrip(AMQPWebSocketClient, ws, label).then(
      (r) => port.postMessage(r),
      (err) => port.postMessage(failure(label, err)),
    );
  };
}
