/* The notary module's pages: a certificate per notarised item, a link to it from the
 * transaction page, and search by document digest. */
(function () {
  "use strict";
  const P = window.Portal;
  const { t, esc, api } = P;

  P.strings({
    "zh-CN": {
      "n.cert": "存证证书", "n.sub": "区块链存证凭证 · 可离线独立核验", "n.what": "存证内容", "n.name": "文件名", "n.size": "大小", "n.title": "标题", "n.digest": "文件摘要",
      "n.batch": "批量存证中的第 {i} 项", "n.when": "存证时间", "n.block": "所在区块", "n.tx": "交易", "n.sender": "提交方", "n.signers": "签名组织", "n.chain": "链",
      "n.scan": "扫码核验此凭证", "n.print": "打印 / 保存为 PDF", "n.download": "下载凭证文件", "n.verify": "在线核验", "n.node_key": "节点",
      "n.seal": "本证书的内容来自链上存证凭证。任何人都可以用凭证文件和原文件，在核验页面或命令 govchain verify 中独立核验，无需信任本网站。",
      "n.unknown": "没有这份存证：",
    },
    en: {
      "n.cert": "Notarisation certificate", "n.sub": "Blockchain receipt · verifiable offline by anyone", "n.what": "What", "n.name": "File name", "n.size": "Size", "n.title": "Title", "n.digest": "File digest",
      "n.batch": "item {i} of a batch", "n.when": "When", "n.block": "Block", "n.tx": "Transaction", "n.sender": "Submitted by", "n.signers": "Signed by", "n.chain": "Chain",
      "n.scan": "Scan to verify this receipt", "n.print": "Print / save as PDF", "n.download": "Download the receipt", "n.verify": "Verify online", "n.node_key": "node",
      "n.seal": "This certificate shows an on-chain receipt. Anyone can check it independently with the receipt file and the original file, on the verification page or with govchain verify, without trusting this website.",
      "n.unknown": "No such notarisation:",
    },
  });

  P.txLink((tx) => (tx.body.contract === "notary" && tx.result.code === "ok" ? { href: "/receipts/" + tx.id, label: t("n.cert") } : null));

  P.searcher(async (digest) => {
    try {
      const found = await api("/v1/notary/documents/" + digest);
      return found.anchors.length ? { href: "/receipts/" + found.anchors[0].tx + "?digest=" + digest } : null;
    } catch (err) {
      if (err instanceof P.PortalError && (err.kind === "not_found" || err.kind === "bad_input")) return null;
      throw err;
    }
  });

  function orgName(org) { return P.lang === "en" ? org.name_en || org.id : org.name_zh || org.id; }

  P.route("/receipts/{tx_id}", async ({ el, params, query, alive, onLeave }) => {
    const digest = query.get("digest");
    const path = "/v1/txs/" + encodeURIComponent(params.tx_id) + "/receipt" + (digest ? "?digest=" + encodeURIComponent(digest) : "");
    let receipt;
    try {
      receipt = await api(path);
    } catch (err) {
      if (err instanceof P.PortalError && (err.kind === "not_found" || err.kind === "bad_input")) { el.innerHTML = P.message("error", t("n.unknown") + " " + err.message); return; }
      throw err;
    }
    const [{ orgs }, { members }] = await Promise.all([api("/v1/orgs"), api("/v1/members")]);
    if (!alive()) return;
    const s = receipt.summary;
    const meta = s.meta && typeof s.meta === "object" ? s.meta : {};
    const doc = receipt.document;
    const byKey = {};
    for (const o of orgs) for (const k of o.peers) byKey[k] = o;
    const signers = receipt.block.signatures.map((sig) => {
      const org = byKey[sig.key];
      return org ? P.link("/orgs/" + org.id, orgName(org)) : esc(t("n.node_key")) + " " + P.hex(P.short(sig.key, 8));
    });
    const member = members.find((m) => m.key === s.sender);
    const memberOrg = member ? orgs.find((o) => o.id === member.org) : null;
    const sender = member ? esc(member.name) + " · " + P.link("/orgs/" + member.org, memberOrg ? orgName(memberOrg) : member.org) + " (" + esc(member.role) + ")" : P.hex(P.short(s.sender, 12));
    const what = [];
    if (meta.title) what.push(esc(t("n.title")) + ": " + esc(meta.title));
    if (meta.name) what.push(esc(t("n.name")) + ": " + esc(meta.name));
    if (meta.size !== undefined) what.push(esc(t("n.size")) + ": " + esc(Number(meta.size).toLocaleString()) + " B");
    if (!what.length) what.push(esc(s.contract + "." + s.method));
    const qrQuery = "tx=" + receipt.tx.id + (doc ? "&digest=" + doc.digest : "");
    const fields = [
      [t("n.what"), what.join("<br>")],
      doc ? [t("n.digest"), P.hex(doc.digest) + (doc.batch_index !== null && doc.batch_index !== undefined ? ' <span class="tag">' + esc(t("n.batch", { i: doc.batch_index + 1 })) + "</span>" : "")] : null,
      [t("n.when"), esc(P.time(Date.parse(s.time)))],
      [t("n.block"), P.link("/blocks/" + receipt.block.height, "#" + receipt.block.height) + " · " + P.hex(P.short(receipt.block.hash, 12))],
      [t("n.tx"), P.link("/txs/" + receipt.tx.id, receipt.tx.id)],
      [t("n.sender"), sender],
      [t("n.signers"), signers.join("、")],
      [t("n.chain"), esc(receipt.chain.id) + " (" + esc(receipt.suite) + ") · " + P.hex(P.short(receipt.chain.genesis_hash, 12))],
    ];
    el.innerHTML = '<article class="cert" id="certificate"><h1>' + esc(t("n.cert")) + '</h1><p class="sub">' + esc(t("n.sub")) + '</p><div class="body"><div>' + P.kv(fields) +
      '</div><div class="qr"><img id="qr" alt="QR" src="/portal/notary/qr.svg?' + esc(qrQuery) + '">' + esc(t("n.scan")) + '</div></div><p class="seal">' + esc(t("n.seal")) + "</p></article>" +
      '<div class="cert-actions no-print"><button class="btn" type="button" id="n-print">' + esc(t("n.print")) + '</button><a class="btn secondary" id="n-download" href="#">' + esc(t("n.download")) +
      '</a><a class="btn secondary" id="n-verify" href="/verify?' + esc(qrQuery) + '">' + esc(t("n.verify")) + "</a></div>";
    document.getElementById("n-print").addEventListener("click", () => window.print());
    const download = document.getElementById("n-download");
    const url = URL.createObjectURL(new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" }));
    onLeave(() => URL.revokeObjectURL(url));
    download.href = url;
    download.download = (meta.name ? meta.name : receipt.tx.id.slice(0, 16)) + ".receipt.json";
  });
})();
