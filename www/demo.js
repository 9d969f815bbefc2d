// warren demo page: connect, declare an exclusive server-named queue, consume it with a callback,
// publish to it by hand or once a second, and show every delivery live.
// Plain ES module, no framework; imports the package built by scripts/build-pkg (../pkg/).

const $ = (id) => document.getElementById(id);
const MAX_SHOWN = 200;

let AMQPWebSocketClient = null;
let client = null; // AMQPWebSocketClient while connected
let channel = null;
let queue = null;
let autoTimer = null;
let published = 0;
let received = 0;

function setStatus(text, kind = "") {
  $("status").textContent = text;
  $("status").className = `status ${kind}`;
}

function showError(context, err) {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = `${new Date().toLocaleTimeString()} ${context}: ${text}`;
  $("errors").textContent = `${line}\n${$("errors").textContent}`.split("\n").slice(0, 8).join("\n");
  console.error(context, err);
}

function setConnected(connected) {
  $("connect").disabled = connected;
  $("disconnect").disabled = !connected;
  $("publish").disabled = !connected;
  $("auto").disabled = !connected;
  for (const id of ["url", "vhost", "username", "password"]) $(id).disabled = connected;
  if (!connected) setAuto(false);
}

// JSON for display: BigInt as 123n, Date as ISO time, bytes as a short hex preview.
function describe(value) {
  return JSON.stringify(value, function (key, v) {
    const raw = this[key]; // before toJSON (Date) was applied
    if (typeof raw === "bigint") return `${raw}n`;
    if (raw instanceof Date) return raw.toISOString();
    if (raw instanceof Uint8Array) {
      const hex = [...raw.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      return `<${raw.length} bytes: ${hex}${raw.length > 16 ? " …" : ""}>`;
    }
    return v;
  });
}

function showMessage(msg) {
  received += 1;
  $("received").textContent = received;
  $("no-messages").hidden = true;

  const item = document.createElement("li");
  item.className = "fresh";
  const head = document.createElement("div");
  head.className = "meta";
  const via = msg.exchange ? `exchange ${msg.exchange}` : "default exchange";
  head.textContent = `${new Date().toLocaleTimeString()} · routing key ${msg.routingKey} · ${via} · delivery #${msg.deliveryTag}`;
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = msg.bodyString() ?? "(no body)";
  const props = document.createElement("pre");
  props.className = "props";
  props.textContent = `properties ${describe(msg.properties ?? {})}`;
  item.append(head, body, props);

  const list = $("messages");
  list.prepend(item);
  while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
}

async function connect() {
  if (!AMQPWebSocketClient) return;
  setStatus("connecting…", "connecting");
  $("connect").disabled = true;
  const c = new AMQPWebSocketClient({
    url: $("url").value,
    vhost: $("vhost").value,
    username: $("username").value,
    password: $("password").value,
    name: "warren demo page",
  });
  try {
    const conn = await c.connect();
    // called by the client when the connection fails after connect (mirrors amqp-client)
    c.onerror = (err) => {
      if (client !== c) return; // we closed it ourselves
      showError("connection", err);
      dropped("connection lost", "error");
    };
    channel = await conn.channel();
    queue = await channel.queueDeclare("", { exclusive: true });
    await channel.basicConsume(queue.name, { noAck: true }, showMessage);
    client = c;
    $("queue").textContent = queue.name;
    setStatus(`connected to ${$("url").value}`, "connected");
    setConnected(true);
  } catch (err) {
    showError("connect", err);
    setStatus("connection failed", "error");
    $("connect").disabled = false;
    try {
      await c.close();
    } catch {
      // already closed
    }
  }
}

function dropped(text, kind = "") {
  client = channel = queue = null;
  $("queue").textContent = "–";
  setStatus(text, kind);
  setConnected(false);
}

async function disconnect() {
  const c = client;
  dropped("disconnecting…", "connecting");
  $("connect").disabled = true;
  try {
    await c?.close();
    setStatus("disconnected");
  } catch (err) {
    showError("close", err);
    setStatus("closed with an error", "error");
  }
  $("connect").disabled = false;
}

async function publish(text) {
  if (!channel || !queue) return;
  published += 1;
  $("published").textContent = published;
  try {
    await channel.basicPublish("", queue.name, text, {
      contentType: "text/plain",
      appId: "warren-demo",
      timestamp: new Date(),
      headers: { seq: published, sentAt: Date.now() },
    });
  } catch (err) {
    showError("publish", err);
  }
}

function setAuto(on) {
  $("auto").checked = on;
  clearInterval(autoTimer);
  autoTimer = on ? setInterval(() => publish(`tick ${new Date().toLocaleTimeString()}`), 1000) : null;
}

$("connect-form").addEventListener("submit", (e) => {
  e.preventDefault();
  connect();
});
$("disconnect").addEventListener("click", disconnect);
$("publish-form").addEventListener("submit", (e) => {
  e.preventDefault();
  publish($("message").value);
});
$("auto").addEventListener("change", (e) => setAuto(e.target.checked));

try {
  ({ AMQPWebSocketClient } = await import("../pkg/index.js"));
  connect();
} catch (err) {
  setStatus("package not loaded", "error");
  $("connect").disabled = true;
  showError("loading ../pkg/index.js (run scripts/build-pkg, serve the repo root)", err);
}
