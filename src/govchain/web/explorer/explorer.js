/* The explorer's pages: chain status with live blocks, a block, a transaction,
 * organisations, members and search. Rendered from the public REST API. */
(function () {
  "use strict";
  const P = window.Portal;
  const { t, esc, api, short, kv, message } = P;

  P.strings({
    "zh-CN": {
      "home.title": "链状态", "st.height": "区块高度", "st.final": "最终确认高度", "st.signers": "签名节点", "st.txs": "交易总数", "st.orgs": "组织数", "st.suite": "密码套件", "st.chain": "链标识",
      "st.genesis": "创世哈希", "home.latest": "最新区块", "live.on": "实时更新", "live.off": "实时连接中断，正在重连…",
      "col.height": "高度", "col.time": "时间", "col.txs": "交易数", "col.hash": "哈希", "col.id": "交易哈希", "col.index": "日志序号", "col.result": "结果",
      "block.title": "区块 {height}", "block.header": "区块头", "block.sigs": "最终性签名", "block.txs": "交易", "block.none": "此区块没有交易。",
      "f.hash": "区块哈希", "f.prev": "上一区块", "f.time": "出块时间", "f.chain": "链标识", "f.height": "高度", "f.tx_count": "交易数", "f.log_size": "日志大小",
      "f.tx_root": "交易根", "f.result_root": "结果根", "f.state_root": "状态根", "f.log_root": "日志根", "f.v": "版本",
      "sig.key": "签名公钥", "sig.org": "组织", "sig.sig": "签名", "sig.node": "节点密钥", "sig.none": "没有签名。",
      "tx.title": "交易", "tx.block": "所在区块", "tx.contract": "合约", "tx.method": "方法", "tx.sender": "发送方", "tx.nonce": "随机数", "tx.expiry": "有效期至",
      "tx.sig": "签名", "tx.args": "参数", "tx.result": "执行结果", "tx.code": "结果码", "tx.message": "说明", "tx.data": "返回数据", "tx.events": "事件", "tx.no_events": "没有事件。",
      "orgs.title": "组织", "orgs.none": "这是一条开发链，没有组织。联盟链在创世文件中列出各组织（govchain consortium init）。",
      "org.id": "组织标识", "org.name": "名称", "org.ca": "CA 证书主题", "org.fp": "CA 指纹", "org.until": "CA 有效期至", "org.peers": "节点公钥", "org.peer_count": "节点数", "org.pem": "CA 证书（PEM）", "org.members": "本组织成员",
      "org.unknown": "没有这个组织：",
      "members.title": "成员", "members.none": "还没有登记的成员。", "m.name": "名称", "m.org": "组织", "m.role": "角色", "m.serial": "证书序列号", "m.until": "有效期至", "m.status": "状态",
      "m.active": "有效", "m.revoked": "已吊销",
      "search.title": "搜索", "search.empty": "请输入区块高度、交易哈希、区块哈希或文件摘要。", "search.bad": "无法识别的查询：请输入区块高度（数字）或 64 位十六进制哈希。",
      "search.none": "未找到：这个哈希不是本链的交易哈希、区块哈希，也不是已存证文件的摘要。",
    },
    en: {
      "home.title": "Chain status", "st.height": "Height", "st.final": "Final height", "st.signers": "Header signers", "st.txs": "Transactions", "st.orgs": "Organisations", "st.suite": "Crypto suite", "st.chain": "Chain",
      "st.genesis": "Genesis hash", "home.latest": "Latest blocks", "live.on": "Live", "live.off": "Live feed interrupted, reconnecting…",
      "col.height": "Height", "col.time": "Time", "col.txs": "Txs", "col.hash": "Hash", "col.id": "Transaction hash", "col.index": "Log index", "col.result": "Result",
      "block.title": "Block {height}", "block.header": "Header", "block.sigs": "Finality signatures", "block.txs": "Transactions", "block.none": "This block has no transactions.",
      "f.hash": "Block hash", "f.prev": "Previous block", "f.time": "Time", "f.chain": "Chain", "f.height": "Height", "f.tx_count": "Transactions", "f.log_size": "Log size",
      "f.tx_root": "Tx root", "f.result_root": "Result root", "f.state_root": "State root", "f.log_root": "Log root", "f.v": "Version",
      "sig.key": "Signer key", "sig.org": "Organisation", "sig.sig": "Signature", "sig.node": "node key", "sig.none": "No signatures.",
      "tx.title": "Transaction", "tx.block": "Block", "tx.contract": "Contract", "tx.method": "Method", "tx.sender": "Sender", "tx.nonce": "Nonce", "tx.expiry": "Expires",
      "tx.sig": "Signature", "tx.args": "Arguments", "tx.result": "Result", "tx.code": "Code", "tx.message": "Message", "tx.data": "Data", "tx.events": "Events", "tx.no_events": "No events.",
      "orgs.title": "Organisations", "orgs.none": "This is a development chain: it has no organisations. A consortium chain lists them in its genesis (govchain consortium init).",
      "org.id": "Id", "org.name": "Name", "org.ca": "CA subject", "org.fp": "CA fingerprint", "org.until": "CA valid until", "org.peers": "Peer keys", "org.peer_count": "Peers", "org.pem": "CA certificate (PEM)", "org.members": "Members",
      "org.unknown": "No such organisation:",
      "members.title": "Members", "members.none": "No members are enrolled yet.", "m.name": "Name", "m.org": "Organisation", "m.role": "Role", "m.serial": "Serial", "m.until": "Valid until", "m.status": "Status",
      "m.active": "active", "m.revoked": "revoked",
      "search.title": "Search", "search.empty": "Enter a block height, transaction hash, block hash or file digest.", "search.bad": "Not a query I understand: enter a block height (a number) or a 64-digit hex hash.",
      "search.none": "Not found: this hash is not a transaction or block hash of this chain, nor the digest of a notarised file.",
    },
  });

  function orgName(org) { return P.lang === "en" ? org.name_en || org.name_zh || org.id : org.name_zh || org.name_en || org.id; }
  function codeTag(code) { return '<span class="tag ' + (code === "ok" ? "ok" : "bad") + '">' + esc(code) + "</span>"; }

  function blockRow(b, fresh) {
    return '<tr data-height="' + esc(b.height) + '"' + (fresh ? ' class="fresh"' : "") + "><td>" + P.link("/blocks/" + b.height, b.height) +
      "</td><td>" + esc(P.time(b.time)) + "</td><td>" + esc(b.tx_count) + '</td><td class="wide">' + P.link("/blocks/" + b.hash, short(b.hash, 12)) + "</td></tr>";
  }

  P.route("/", async ({ el, alive, onLeave }) => {
    const [status, orgs] = await Promise.all([api("/v1/status"), api("/v1/orgs")]);
    const card = (id, key, value) => '<div class="card"><div class="k">' + esc(t(key)) + '</div><div class="v" id="' + id + '">' + esc(value) + "</div></div>";
    el.innerHTML = "<h1>" + esc(t("home.title")) + '</h1><div class="cards">' +
      card("st-height", "st.height", status.height) +
      card("st-final", "st.final", status.final_height ?? "-") + card("st-signers", "st.signers", status.signers ?? "-") +
      card("st-txs", "st.txs", status.tx_count) + card("st-orgs", "st.orgs", orgs.orgs.length) +
      card("st-suite", "st.suite", status.suite) + "</div>" +
      '<p class="muted">' + esc(t("st.chain")) + ': <span id="st-chain">' + esc(status.chain_id) + "</span> · " +
      esc(t("st.genesis")) + ": " + P.hex(status.genesis_hash) + "</p>" +
      "<h2>" + esc(t("home.latest")) + ' <span class="live off" id="live">' + esc(t("live.off")) + "</span></h2>" +
      '<table class="list"><thead><tr><th>' + esc(t("col.height")) + "</th><th>" + esc(t("col.time")) + "</th><th>" + esc(t("col.txs")) +
      '</th><th class="wide">' + esc(t("col.hash")) + '</th></tr></thead><tbody id="blocks"></tbody></table>';
    const heights = [];
    for (let h = status.height; h >= Math.max(0, status.height - 9); h--) heights.push(h);
    const blocks = await Promise.all(heights.map((h) => api("/v1/blocks/" + h)));
    if (!alive()) return;
    const body = document.getElementById("blocks");
    let top = -1;
    for (const b of blocks) {
      if (!body.querySelector('tr[data-height="' + b.header.height + '"]')) {
        body.insertAdjacentHTML("beforeend", blockRow({ height: b.header.height, time: b.header.time, tx_count: b.header.tx_count, hash: b.hash }));
      }
      top = Math.max(top, b.header.height);
    }
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/v1/events/blocks");
    onLeave(() => source.close());
    const live = document.getElementById("live");
    source.onopen = () => { live.classList.remove("off"); live.textContent = t("live.on"); };
    source.onerror = () => { live.classList.add("off"); live.textContent = t("live.off"); };
    function place(b) {
      // Rows stay in height order even when a gap is filled after a later block arrived.
      if (body.querySelector('tr[data-height="' + b.height + '"]')) return false;
      const next = Array.from(body.rows).find((row) => Number(row.dataset.height) < b.height);
      if (next) next.insertAdjacentHTML("beforebegin", blockRow(b, true));
      else body.insertAdjacentHTML("beforeend", blockRow(b, true));
      while (body.rows.length > 20) body.deleteRow(body.rows.length - 1);
      const txs = document.getElementById("st-txs");
      txs.textContent = Number(txs.textContent) + b.tx_count;
      return true;
    }
    // A block is final once more than 2/3 of the header signers signed it (at once on a single node).
    source.addEventListener("final", (ev) => {
      const final = document.getElementById("st-final");
      const height = JSON.parse(ev.data).height;
      if (!(Number(final.textContent) >= height)) final.textContent = height;
    });
    source.addEventListener("block", async (ev) => {
      const b = JSON.parse(ev.data);
      if (b.height <= top) return;
      // Blocks missed while the stream was away (a reconnect, a slow tab) are fetched, not skipped.
      const missing = [];
      for (let h = Math.max(top + 1, b.height - 19); h < b.height; h++) missing.push(h);
      top = b.height;
      document.getElementById("st-height").textContent = b.height;
      place(b);
      const found = await Promise.all(missing.map((h) => api("/v1/blocks/" + h).catch(() => null)));
      if (!alive()) return;
      for (const m of found) {
        if (m) place({ height: m.header.height, time: m.header.time, tx_count: m.header.tx_count, hash: m.hash });
      }
    });
  });

  async function signerOrgs() {
    const { orgs } = await api("/v1/orgs");
    const byKey = {};
    for (const o of orgs) for (const k of o.peers) byKey[k] = o;
    return byKey;
  }

  P.route("/blocks/{ref}", async ({ el, params }) => {
    const [b, byKey] = await Promise.all([api("/v1/blocks/" + encodeURIComponent(params.ref)), signerOrgs()]);
    const h = b.header;
    const fields = [
      [t("f.height"), esc(h.height)], [t("f.hash"), P.hex(b.hash)], [t("f.time"), esc(P.time(h.time))], [t("f.chain"), esc(h.chain)],
      [t("f.prev"), h.height > 0 ? P.link("/blocks/" + (h.height - 1), h.prev) : P.hex(h.prev)],
      [t("f.tx_count"), esc(h.tx_count)], [t("f.log_size"), esc(h.log_size)], [t("f.tx_root"), P.hex(h.tx_root)], [t("f.result_root"), P.hex(h.result_root)],
      [t("f.state_root"), P.hex(h.state_root)], [t("f.log_root"), P.hex(h.log_root)], [t("f.v"), esc(h.v)],
    ];
    const sigs = b.signatures.length === 0 ? "<p>" + esc(t("sig.none")) + "</p>" :
      '<table class="list"><thead><tr><th>' + esc(t("sig.org")) + "</th><th>" + esc(t("sig.key")) + '</th><th class="wide">' + esc(t("sig.sig")) + "</th></tr></thead><tbody>" +
      b.signatures.map((s) => {
        const org = byKey[s.key];
        return "<tr><td>" + (org ? P.link("/orgs/" + org.id, orgName(org)) : esc(t("sig.node"))) + "</td><td>" + P.hex(short(s.key, 12)) + '</td><td class="wide">' + P.hex(short(s.sig, 12)) + "</td></tr>";
      }).join("") + "</tbody></table>";
    const txs = b.txs.length === 0 ? "<p>" + esc(t("block.none")) + "</p>" :
      '<table class="list"><thead><tr><th>' + esc(t("col.id")) + '</th><th class="wide">' + esc(t("col.index")) + "</th><th>" + esc(t("col.result")) + "</th></tr></thead><tbody>" +
      b.txs.map((x) => "<tr><td>" + P.link("/txs/" + x.id, short(x.id, 16)) + '</td><td class="wide">' + esc(x.log_index) + "</td><td>" + codeTag(x.code) + "</td></tr>").join("") + "</tbody></table>";
    el.innerHTML = "<h1>" + esc(t("block.title", { height: h.height })) + "</h1><div class=\"panel\"><h2>" + esc(t("block.header")) + "</h2>" + kv(fields) + "</div>" +
      "<h2>" + esc(t("block.sigs")) + "</h2>" + sigs + "<h2>" + esc(t("block.txs")) + " (" + b.txs.length + ")</h2>" + txs;
  });

  P.route("/txs/{tx_id}", async ({ el, params }) => {
    const tx = await api("/v1/txs/" + encodeURIComponent(params.tx_id));
    const body = tx.body;
    const r = tx.result;
    const links = P.txLinks(tx).map((l) => '<a class="btn secondary" href="' + esc(l.href) + '">' + esc(l.label) + "</a>").join(" ");
    const events = (r.events || []).length === 0 ? "<p>" + esc(t("tx.no_events")) + "</p>" :
      r.events.map((e) => "<p><b>" + esc(e.type) + "</b></p>" + P.json(e.attrs)).join("");
    el.innerHTML = "<h1>" + esc(t("tx.title")) + "</h1>" + (links ? '<p class="no-print">' + links + "</p>" : "") +
      '<div class="panel">' + kv([
        [t("col.id"), P.hex(tx.id)], [t("tx.block"), P.link("/blocks/" + tx.height, tx.height)], [t("col.index"), esc(tx.log_index)],
        [t("tx.contract"), esc(body.contract)], [t("tx.method"), esc(body.method)], [t("tx.sender"), P.hex(body.from)], [t("f.chain"), esc(body.chain)],
        [t("tx.nonce"), P.hex(body.nonce)], [t("tx.expiry"), esc(P.time(body.expiry))], [t("tx.sig"), P.hex(tx.signature)],
      ]) + "</div><h2>" + esc(t("tx.args")) + "</h2>" + P.json(body.args) +
      "<h2>" + esc(t("tx.result")) + '</h2><div class="panel">' + kv([
        [t("tx.code"), codeTag(r.code)], r.message ? [t("tx.message"), esc(r.message)] : null, [t("tx.data"), P.json(r.data)],
      ]) + "</div><h2>" + esc(t("tx.events")) + "</h2>" + events;
  });

  P.route("/orgs", async ({ el }) => {
    const { orgs } = await api("/v1/orgs");
    el.innerHTML = "<h1>" + esc(t("orgs.title")) + "</h1>" + (orgs.length === 0 ? message("info", t("orgs.none")) :
      '<table class="list"><thead><tr><th>' + esc(t("org.id")) + "</th><th>" + esc(t("org.name")) + '</th><th class="wide">' + esc(t("org.ca")) +
      "</th><th>" + esc(t("org.peer_count")) + "</th></tr></thead><tbody>" +
      orgs.map((o) => "<tr><td>" + P.link("/orgs/" + o.id, o.id) + "</td><td>" + esc(orgName(o)) + '</td><td class="wide">' + esc(o.ca_subject) + "</td><td>" + o.peers.length + "</td></tr>").join("") +
      "</tbody></table>");
  });

  function memberRows(members, withOrg) {
    return '<table class="list"><thead><tr><th>' + esc(t("m.name")) + "</th>" + (withOrg ? "<th>" + esc(t("m.org")) + "</th>" : "") + "<th>" + esc(t("m.role")) +
      '</th><th class="wide">' + esc(t("m.serial")) + '</th><th class="wide">' + esc(t("m.until")) + "</th><th>" + esc(t("m.status")) + "</th></tr></thead><tbody>" +
      members.map((m) => "<tr><td>" + esc(m.name) + "</td>" + (withOrg ? "<td>" + P.link("/orgs/" + m.org, m.org) + "</td>" : "") + "<td>" + esc(m.role) +
        '</td><td class="wide">' + P.hex(short(String(m.serial), 10)) + '</td><td class="wide">' + esc(P.time(m.not_after)) + "</td><td>" +
        (m.revoked ? '<span class="tag bad">' + esc(t("m.revoked")) + "</span>" : '<span class="tag ok">' + esc(t("m.active")) + "</span>") + "</td></tr>").join("") +
      "</tbody></table>";
  }

  P.route("/orgs/{org_id}", async ({ el, params }) => {
    const { orgs } = await api("/v1/orgs");
    const o = orgs.find((x) => x.id === params.org_id);
    if (!o) { el.innerHTML = message("error", t("org.unknown") + " " + params.org_id); return; }
    const { members } = await api("/v1/members?org=" + encodeURIComponent(o.id));
    el.innerHTML = "<h1>" + esc(orgName(o)) + '</h1><div class="panel">' + kv([
      [t("org.id"), esc(o.id)], [t("org.name"), esc(o.name_zh) + " / " + esc(o.name_en)], [t("org.ca"), esc(o.ca_subject)],
      [t("org.fp"), P.hex(o.ca_fingerprint)], [t("org.until"), esc(P.time(o.ca_not_after))],
      [t("org.peers"), o.peers.map((k) => P.hex(short(k, 12))).join("<br>")],
    ]) + "<details><summary>" + esc(t("org.pem")) + '</summary><pre class="json">' + esc(o.ca_pem) + "</pre></details></div>" +
      "<h2>" + esc(t("org.members")) + "</h2>" + (members.length ? memberRows(members, false) : "<p>" + esc(t("members.none")) + "</p>");
  });

  P.route("/members", async ({ el }) => {
    const { members } = await api("/v1/members");
    el.innerHTML = "<h1>" + esc(t("members.title")) + "</h1>" + (members.length ? memberRows(members, true) : message("info", t("members.none")));
  });

  async function exists(path) {
    try { await api(path); return true; } catch (err) {
      if (err instanceof P.PortalError && (err.kind === "not_found" || err.kind === "bad_input")) return false;
      throw err;
    }
  }

  P.route("/search", async ({ el, query }) => {
    const q = (query.get("q") || "").trim();
    const input = document.getElementById("search-q");
    if (input) input.value = q;
    const head = "<h1>" + esc(t("search.title")) + "</h1>";
    if (!q) { el.innerHTML = head + message("info", t("search.empty")); return; }
    if (/^\d+$/.test(q)) { location.replace("/blocks/" + q); return; }
    const hex = q.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) { el.innerHTML = head + message("error", t("search.bad")); return; }
    if (await exists("/v1/txs/" + hex)) { location.replace("/txs/" + hex); return; }
    if (await exists("/v1/blocks/" + hex)) { location.replace("/blocks/" + hex); return; }
    for (const find of P.searchers()) {
      const hit = await find(hex);
      if (hit) { location.replace(hit.href); return; }
    }
    el.innerHTML = head + message("error", t("search.none")) + "<p>" + P.hex(hex) + "</p>";
  });
})();
