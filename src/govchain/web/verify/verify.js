/* The verification page (存证核验): drop a file and/or a receipt, check everything here.
 *
 * The file is hashed in this browser and only its digest is ever sent (to look up a
 * receipt when none is given). The receipt is checked by GovVerify, the mirror of
 * `govchain verify`, so the verdict does not depend on trusting the server. Saved as
 * one HTML file (or downloaded from /verify/offline.html) the page works offline.
 */
(function () {
  "use strict";
  const P = window.Portal;
  const V = window.GovVerify;
  const { t, esc } = P;

  P.strings({
    "zh-CN": {
      "v.title": "存证核验",
      "v.intro": "文件只在您的浏览器中计算摘要，只有摘要会离开本机；凭证中的 Merkle 证明和签名也在浏览器中逐项核验，结果不依赖于信任服务器。",
      "v.file": "待核验的文件", "v.file.hint": "拖放文件到这里，或点击选择", "v.receipt": "存证凭证（.receipt.json）", "v.receipt.hint": "拖放凭证到这里，或点击选择",
      "v.pin": "指定信任的链（创世哈希，可选）", "v.go": "核验", "v.clear": "清除", "v.offline_dl": "下载离线核验页（单个 HTML 文件）",
      "v.offline_note": "离线模式：本页面不连接任何服务器，请同时提供文件和凭证（或仅凭证）。",
      "v.need": "请先选择文件或凭证。", "v.need_receipt": "离线模式下需要存证凭证。", "v.hashing": "正在本地计算文件摘要…", "v.checking": "正在浏览器中核验…",
      "v.lookup": "未提供凭证：正在用文件摘要向节点查询凭证（只发送摘要）…", "v.fetch": "正在从节点获取凭证…",
      "v.unknown_digest": "未找到：这个文件（摘要如下）没有在本链上存证过。", "v.unknown_tx": "节点上没有这份凭证：",
      "v.valid": "核验通过", "v.invalid": "核验未通过", "v.unreadable": "无法读取凭证",
      "fail.file_altered": "文件已被改动：文件摘要与存证时的摘要不一致。", "fail.proof": "证明无效：Merkle 证明或存证内容与已签名的区块不符。",
      "fail.signature": "签名无效：区块头或交易的签名无法通过验证。", "fail.wrong_chain": "链不符：凭证不属于所声明或您信任的链。",
      "fail.unreadable": "这不是可读取的存证凭证。",
      "v.detail": "技术说明", "v.chain": "链", "v.height": "区块高度", "v.time": "区块时间", "v.tx": "交易", "v.signers": "有效签名数", "v.digest": "文件摘要",
      "v.file_digest": "本地计算的摘要", "v.crypto": "本浏览器无法进行核验：",
      "v.receipt_page": "查看存证证书", "v.file_unreadable": "无法读取所选文件（它可能在选择后被修改或移动），请重新选择。",
    },
    en: {
      "v.title": "Verify a notarised file",
      "v.intro": "The file is hashed in your browser and only its digest leaves this machine; the receipt's Merkle proofs and signatures are checked here too, step by step, so the result does not depend on trusting the server.",
      "v.file": "File to verify", "v.file.hint": "Drop a file here, or click to choose", "v.receipt": "Receipt (.receipt.json)", "v.receipt.hint": "Drop the receipt here, or click to choose",
      "v.pin": "Chain you trust (genesis hash, optional)", "v.go": "Verify", "v.clear": "Clear", "v.offline_dl": "Download the offline verifier (one HTML file)",
      "v.offline_note": "Offline mode: this page talks to no server. Give the file and its receipt (or the receipt alone).",
      "v.need": "Choose a file or a receipt first.", "v.need_receipt": "Offline, a receipt is needed.", "v.hashing": "Hashing the file locally…", "v.checking": "Checking in your browser…",
      "v.lookup": "No receipt given: asking the node for one by the file's digest (only the digest is sent)…", "v.fetch": "Fetching the receipt from the node…",
      "v.unknown_digest": "Not found: this file (digest below) has not been notarised on this chain.", "v.unknown_tx": "The node has no such receipt:",
      "v.valid": "Valid", "v.invalid": "Invalid", "v.unreadable": "Unreadable receipt",
      "fail.file_altered": "The file was altered: its digest differs from the notarised digest.", "fail.proof": "Proof failed: the Merkle proof or the notarised content does not match the signed block.",
      "fail.signature": "Signature failed: the block header or the transaction is not validly signed.", "fail.wrong_chain": "Wrong chain: the receipt is not from the chain it names or the one you trust.",
      "fail.unreadable": "This is not a receipt that can be read.",
      "v.detail": "Details", "v.chain": "Chain", "v.height": "Block height", "v.time": "Block time", "v.tx": "Transaction", "v.signers": "Valid signatures", "v.digest": "File digest",
      "v.file_digest": "Digest computed here", "v.crypto": "This browser cannot verify:",
      "v.receipt_page": "View the certificate", "v.file_unreadable": "The chosen file cannot be read (it may have changed or moved since it was chosen): choose it again.",
    },
  });

  const state = { file: null, receiptText: null, receiptName: null, fromNode: null };

  function dropZone(id, labelKey, hintKey, accept) {
    return '<label class="drop" id="' + id + '-zone" for="' + id + '"><b>' + esc(t(labelKey)) + '</b><span class="muted" id="' + id + '-name">' + esc(t(hintKey)) +
      '</span><input type="file" id="' + id + '"' + (accept ? ' accept="' + accept + '"' : "") + "></label>";
  }

  function setStatus(text) { document.getElementById("v-status").textContent = text || ""; }

  function showResult(verdict, extra) {
    const box = document.getElementById("result");
    box.hidden = false;
    box.dataset.valid = String(verdict.valid);
    box.dataset.failure = verdict.failure || "";
    box.className = "panel verdict " + (verdict.valid ? "good" : "bad");
    const head = verdict.valid ? t("v.valid") : verdict.failure === "unreadable" ? t("v.unreadable") : t("v.invalid");
    let html = '<div class="verdict-head">' + (verdict.valid ? "✔ " : "✘ ") + esc(head) + (verdict.failure ? ' <code class="failure">' + esc(verdict.failure) + "</code>" : "") + "</div>";
    if (!verdict.valid) html += '<p class="reason">' + esc(t("fail." + verdict.failure)) + "</p>";
    const facts = [];
    if (verdict.valid) {
      const online = !P.offlineFile;
      facts.push([t("v.chain"), esc(verdict.chain_id) + " · " + P.hex(verdict.genesis_hash)]);
      facts.push([t("v.height"), online ? P.link("/blocks/" + verdict.height, verdict.height) : esc(verdict.height)]);
      facts.push([t("v.time"), esc(P.time(Number(verdict.time_ms)))]);
      facts.push([t("v.tx"), online ? P.link("/txs/" + verdict.tx_id, verdict.tx_id) : P.hex(verdict.tx_id)]);
      facts.push([t("v.signers"), esc(verdict.signers)]);
      if (verdict.digest) facts.push([t("v.digest"), P.hex(verdict.digest)]);
    }
    if (extra && extra.fileDigest) facts.push([t("v.file_digest"), P.hex(extra.fileDigest)]);
    facts.push([t("v.detail"), esc(verdict.message)]);
    html += P.kv(facts);
    if (verdict.valid && !P.offlineFile) {
      const href = "/receipts/" + verdict.tx_id + (verdict.digest ? "?digest=" + verdict.digest : "");
      html += '<p class="no-print"><a class="btn secondary" href="' + esc(href) + '">' + esc(t("v.receipt_page")) + "</a></p>";
    }
    box.innerHTML = html;
  }

  function showMessage(kind, text) {
    const box = document.getElementById("result");
    box.hidden = false;
    box.dataset.valid = "";
    box.dataset.failure = "";
    box.className = "";
    box.innerHTML = P.message(kind, text);
  }

  async function readBytes(file) { return new Uint8Array(await file.arrayBuffer()); }

  function suiteOf(text) {
    try { const r = JSON.parse(text); return r && (r.suite === "intl" || r.suite === "gm") ? r.suite : null; } catch (e) { return null; }
  }

  async function run() {
    const pinText = (document.getElementById("v-pin").value || "").trim().toLowerCase();
    let pinned = null;
    if (pinText) {
      if (!/^[0-9a-f]{64}$/.test(pinText)) { showMessage("error", t("fail.unreadable") + " (--chain: 64 hex digits)"); return; }
      pinned = V.fromHex(pinText);
    }
    let receiptText = state.receiptText || state.fromNode;
    if (!state.file && !receiptText) { showMessage("info", P.offlineFile ? t("v.need_receipt") : t("v.need")); return; }
    try {
      let digest = null;
      let suite = receiptText ? suiteOf(receiptText) : null;
      if (state.file && !receiptText) {
        if (P.offlineFile) { showMessage("info", t("v.need_receipt")); return; }
        suite = (await P.api("/v1/status")).suite;
      }
      if (state.file && suite) {
        setStatus(t("v.hashing"));
        digest = await V.hashFile(suite, await readBytes(state.file));
      }
      if (!receiptText) {
        setStatus(t("v.lookup"));
        try {
          receiptText = JSON.stringify(await P.api("/v1/notary/documents/" + V.toHex(digest) + "/receipt"));
        } catch (err) {
          if (err instanceof P.PortalError && err.kind === "not_found") { showMessage("error", t("v.unknown_digest") + " " + V.toHex(digest)); return; }
          throw err;
        }
      }
      setStatus(t("v.checking"));
      const verdict = await V.verifyText(receiptText, digest, pinned);
      showResult(verdict, { fileDigest: digest ? V.toHex(digest) : null });
    } catch (err) {
      if (err instanceof V.CryptoUnavailable) showMessage("error", t("v.crypto") + " " + err.message);
      else if (err && err.name === "NotReadableError") showMessage("error", t("v.file_unreadable"));
      else showMessage("error", P.errorText(err));
    } finally {
      setStatus("");
    }
  }

  function wire(id, onFile) {
    const input = document.getElementById(id);
    const zone = document.getElementById(id + "-zone");
    input.addEventListener("change", () => {
      if (input.files && input.files[0]) onFile(input.files[0]);
      input.value = ""; // choosing the same file again (after editing it) must count as a new choice
    });
    zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      if (ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0]) onFile(ev.dataTransfer.files[0]);
    });
  }

  function named(id, name, size) {
    document.getElementById(id + "-name").textContent = name + (size !== undefined ? " (" + size.toLocaleString() + " B)" : "");
    document.getElementById(id + "-zone").classList.add("chosen");
  }

  P.route("/verify", async ({ el, query, alive }) => {
    el.innerHTML = "<h1>" + esc(t("v.title")) + '</h1><p class="muted">' + esc(t("v.intro")) + "</p>" +
      (P.offlineFile ? P.message("info", t("v.offline_note")) : "") +
      '<div class="drops">' + dropZone("v-file", "v.file", "v.file.hint") + dropZone("v-receipt", "v.receipt", "v.receipt.hint", ".json,application/json") + "</div>" +
      '<details class="pin"><summary>' + esc(t("v.pin")) + '</summary><input id="v-pin" class="mono" spellcheck="false" autocomplete="off" placeholder="genesis hash"></details>' +
      '<p class="actions"><button class="btn" id="v-go" type="button">' + esc(t("v.go")) + '</button> <button class="btn secondary" id="v-clear" type="button">' + esc(t("v.clear")) +
      '</button> <span class="muted" id="v-status"></span></p><div id="result" hidden></div>' +
      (P.offlineFile ? "" : '<p class="no-print online-only"><a href="/verify/offline.html" id="v-offline" download="govchain-verifier.html">' + esc(t("v.offline_dl")) + "</a></p>");
    if (state.file) named("v-file", state.file.name, state.file.size);
    if (state.receiptName) named("v-receipt", state.receiptName);
    wire("v-file", (file) => { state.file = file; named("v-file", file.name, file.size); });
    wire("v-receipt", async (file) => { state.receiptText = await file.text(); state.receiptName = file.name; state.fromNode = null; named("v-receipt", file.name); });
    document.getElementById("v-go").addEventListener("click", run);
    document.getElementById("v-clear").addEventListener("click", () => {
      state.file = null; state.receiptText = null; state.receiptName = null; state.fromNode = null;
      P.rerender();
    });
    const tx = query.get("tx");
    if (tx && !P.offlineFile && !state.receiptText) {
      // Opened from a certificate's QR code: fetch that receipt, then check it here.
      setStatus(t("v.fetch"));
      const digest = query.get("digest");
      try {
        const receipt = await P.api("/v1/txs/" + encodeURIComponent(tx) + "/receipt" + (digest ? "?digest=" + encodeURIComponent(digest) : ""));
        if (!alive()) return; // rendered again meanwhile: that render fetches it too
        state.fromNode = JSON.stringify(receipt);
        named("v-receipt", "receipt " + P.short(tx, 8));
        await run();
      } catch (err) {
        if (!alive()) return;
        showMessage("error", err instanceof P.PortalError && err.kind !== "offline" ? t("v.unknown_tx") + " " + err.message : P.errorText(err));
      } finally {
        setStatus("");
      }
    }
  });
})();
