// A minimal Socket.IO v4 client for the console, over the browser's
// WebSocket only. It speaks just what the console needs of the two
// protocols, as docs/protocol.md describes the gateway's side:
//
// Engine.IO 4 (the transport): the socket opens at
// `/socket.io/?EIO=4&transport=websocket`; every text frame starts with a
// packet type digit: `0` open (JSON with `pingInterval`...), `1` close,
// `2` ping (answered with `3` pong), `4` message (a Socket.IO packet).
//
// Socket.IO 4 (inside `4` messages): `0` CONNECT (we send `0` + the JSON
// auth object, `{"token": ...}`; the server answers `0{"sid":...}`), `1`
// DISCONNECT, `2` EVENT (`2[ackId]["name", data]`), `3` ACK
// (`3ackId[data]`), `4` CONNECT_ERROR (`4{"message": ...}`). So an event
// frame reads `42["price:update",{...}]` and one that wants an ack
// `421["chat:message",{...}]`. Binary packets and namespaces other than
// `/` are not used by the gateway's contract and are not handled here.

/** A Socket.IO connection to the default namespace with `auth`. */
export class SioClient {
  /**
   * @param {string} origin e.g. `http://127.0.0.1:3006` (ws/wss follows)
   * @param {object} auth the CONNECT payload, e.g. `{ token }`
   */
  constructor(origin, auth) {
    this.url = origin.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
    this.auth = auth;
    this.handlers = new Map();
    this.acks = new Map();
    this.nextAck = 1;
    this.connected = false;
    this.closedByUs = false;
    this.retryMs = 500;
  }

  /** Registers `fn(data)` for server event `name` (or `connect`, `disconnect`, `connect_error`). */
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
    return this;
  }

  /** Opens the connection; it reconnects (with backoff) until `close()`. */
  open() {
    this.closedByUs = false;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (m) => this.#frame(String(m.data));
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      for (const [, reject] of this.acks.values()) reject(new Error("disconnected"));
      this.acks.clear();
      if (was) this.#fire("disconnect");
      if (!this.closedByUs) {
        setTimeout(() => this.open(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 10000);
      }
    };
    return this;
  }

  /** Closes for good. */
  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close();
  }

  /**
   * Emits `name` with `data`; resolves with the server's ack (the gateway
   * acks every client event with `{ ok, ... }`).
   */
  emit(name, data) {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new Error("not connected"));
        return;
      }
      const id = this.nextAck++;
      this.acks.set(id, [resolve, reject]);
      this.ws.send("42" + id + JSON.stringify([name, data]));
    });
  }

  #fire(name, data) {
    for (const fn of this.handlers.get(name) || []) fn(data);
  }

  #frame(text) {
    const type = text[0];
    if (type === "0") {
      this.ws.send("40" + JSON.stringify(this.auth));
    } else if (type === "2") {
      this.ws.send("3");
    } else if (type === "4") {
      this.#packet(text.slice(1));
    }
  }

  #packet(text) {
    const type = text[0];
    const body = text.slice(1);
    if (type === "0") {
      this.connected = true;
      this.retryMs = 500;
      this.#fire("connect", JSON.parse(body || "{}"));
    } else if (type === "1") {
      this.ws.close();
    } else if (type === "2") {
      const start = body.indexOf("[");
      const [name, data] = JSON.parse(body.slice(start));
      this.#fire(name, data);
    } else if (type === "3") {
      const start = body.indexOf("[");
      const id = Number(body.slice(0, start));
      const [data] = JSON.parse(body.slice(start));
      const pending = this.acks.get(id);
      if (pending) {
        this.acks.delete(id);
        pending[0](data);
      }
    } else if (type === "4") {
      // A refused CONNECT: retrying with the same auth would be refused again.
      this.closedByUs = true;
      this.#fire("connect_error", JSON.parse(body || "{}"));
      this.ws.close();
    }
  }
}
