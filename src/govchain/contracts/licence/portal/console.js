/* E-licence consoles: issuing (发证), holder (持证), relying party (用证) and regulator (监管).
 *
 * Every write is signed here, in the browser (web/sign/sign.js, and model.js for the licence's
 * own bytes), with a key loaded from a key file: the key stays in this page's memory, is never
 * stored and never sent. The node only ever sees signed transactions and signed requests, as
 * from client.py's LicenceClient, which these pages follow flow by flow. Registered before
 * licences.js, so that "/licences/issuer" is not taken for a licence id.
 */
(function () {
  "use strict";
  const P = window.Portal;
  const S = window.GovSign;
  const L = window.GovLicence;
  const { t, esc, api } = P;
  const HOUR_MS = 3600 * 1000;

  /* Memory only: cleared by a reload, never written anywhere. */
  const held = { issuer: null, holder: null, relying: null, regulator: null };
  const holderBundles = new Map(); // licence id -> bundle
  let lastIssued = null;

  P.strings({
    "zh-CN": {
      "c.desk": "证照办理", "c.issuer": "发证窗口", "c.holder": "我的证照", "c.relying": "用证核验", "c.regulator": "监管看板",
      "c.desk.note": "以下页面在浏览器中签名：密钥文件只在本页内存中使用，不会保存，也不会发送给节点。",
      "c.key.none": "尚未载入密钥。", "c.key.loaded": "已载入密钥（{suite}）：{key}", "c.key.issuer": "发证人员密钥", "c.key.holder": "持证人密钥", "c.key.relying": "用证单位成员密钥", "c.key.regulator": "监管/审计人员密钥",
      "c.type": "证照类型", "c.data": "证照数据", "c.required": "必填", "c.personal": "个人信息",
      "c.holder_code": "持证主体代码（统一社会信用代码或身份证号）", "c.holder_key": "持证人公钥（hex）", "c.gen_holder": "在浏览器中生成持证人密钥",
      "c.gen_done": "已生成持证人密钥。请下载密钥文件交给持证人（只此一次，页面不会保存）。", "c.download_key": "下载持证人密钥文件",
      "c.valid_until": "有效期至（可选）", "c.issue": "签名并发证", "c.working": "正在签名、提交并等待出块…",
      "c.issued": "已发证：{id}", "c.deposited": "证照数据已加密存入本节点的隐私存储。", "c.download_bundle": "下载持证人证照包", "c.open_check": "打开公开核验页",
      "c.lifecycle": "证照状态变更", "c.licence_id": "证照编号", "c.operation": "操作", "c.reason": "原因", "c.apply": "签名并提交", "c.changed": "{id} 现为：{status}",
      "c.bundles": "证照包（可多选）", "c.my": "我的证照", "c.none_loaded": "请载入证照包。", "c.key_mismatch": "载入的密钥不是此证照的持证人密钥",
      "c.authorise": "授权用证", "c.relying_org": "用证单位", "c.service": "办理事项", "c.fields": "授权查看的数据项", "c.hours": "有效时长（小时）", "c.one_time": "仅可使用一次",
      "c.sign_auth": "签名生成授权", "c.auth_ready": "授权已生成：把下面的授权文件交给用证单位。", "c.download_auth": "下载授权文件", "c.history": "证照生命周期（公开）",
      "c.uses_note": "用证记录属于受限数据，只有发证机构和监管部门可查。",
      "c.auth_file": "授权文件", "c.auth_paste": "或粘贴授权 JSON", "c.use": "登记用证并获取数据",
      "c.verified": "以下数据已与链上数据摘要核对一致（第 {v} 版）。", "c.fetched": "来自发证节点的数据", "c.presented": "持证人出示的数据", "c.use_tx": "用证交易",
      "c.purpose": "查阅事由（记录上链）", "c.purpose.default": "监管抽查", "c.load": "签名查阅", "c.by_org": "按发证机构", "c.by_type": "按证照类型", "c.by_op": "按操作", "c.by_day": "按日",
      "c.recent_uses": "最近的用证记录", "c.access_log": "受限数据查阅记录", "c.reader": "查阅人", "c.query": "查阅内容", "c.none": "暂无记录。",
      "c.use_by": "用证单位", "c.t": "时间", "c.total": "操作总数", "op.use": "用证",
      "c.qr_note": "用证单位扫描此二维码（只含授权和签名），再从发证节点获取授权的数据。", "c.qr_too_long": "授权内容太长，无法放入二维码：请交付授权文件。",
      "rc.title": "操作被拒绝（{code}）：", "rc.unknown": "节点返回：",
      "rc.forbidden": "无权执行此操作。", "rc.not_a_member": "此密钥不是已登记的联盟成员。", "rc.member_revoked": "此成员证书已被吊销。", "rc.member_expired": "此成员证书已过期。",
      "rc.not_a_consortium": "电子证照只在联盟链上可用。", "rc.unknown_licence_type": "没有这个证照类型。", "rc.licence_type_invalid": "证照类型定义不可用。",
      "rc.issuer_not_allowed": "本机构不能签发这种证照。", "rc.transition_forbidden": "证照当前状态不允许此操作。", "rc.bad_authorisation": "授权无效（签名、格式或链不对）。",
      "rc.authorisation_expired": "授权已过期。", "rc.authorisation_not_yet_valid": "授权尚未生效。", "rc.authorisation_replayed": "这份一次性授权已经用过。",
      "rc.out_of_scope": "超出授权范围（用证单位或数据项不符）。", "rc.licence_not_valid": "证照当前不是有效状态（已暂停、吊销、注销或过期）。",
      "rc.digest_mismatch": "数据与链上摘要不一致。", "rc.disclosure_mismatch": "出示的数据与链上数据摘要不一致，可能被篡改。", "rc.not_found": "未找到。",
      "rc.invalid_args": "参数有误。", "rc.conflict": "版本冲突。", "rc.wrong_chain": "不是本链的请求。", "rc.expired": "签名已过期，请重试。", "rc.bad_signature": "签名无效。",
      "rc.unknown_tx": "没有这笔交易。", "rc.schema_invalid": "证照数据不符合证照类型的格式要求。", "rc.wrong_holder_key": "此密钥不是该证照的持证人密钥。",
      "rc.bad_key_file": "不是可用的密钥文件。", "rc.wrong_suite": "密钥的密码算法与本链不一致。", "rc.no_key": "请先载入密钥文件。", "rc.bad_file": "文件无法读取（不是 JSON？）。",
      "c.change": "证照变更（新版本）", "c.change.note": "载入证照当前版本的证照包，修改数据后签名：新版本的证照文件由本节点生成，摘要随变更上链。", "c.change.bundle": "当前证照包",
      "c.change.sign": "签名并变更", "c.changed_to": "{id} 已变更为第 {v} 版。",
      "c.download_pdf": "下载证照文件（PDF）", "c.file_check": "核验证照文件", "c.file_note": "文件只在本浏览器中计算摘要，不会上传：节点只收到摘要。",
      "c.pdf_file": "证照文件（PDF）", "c.pdf_id": "证照编号（可选：文件未注明时填写）", "c.check_file": "核验文件", "c.file_is": "此文件是 {id} 的第 {v} 版，该版本：{status}",
      "c.file_matches": "证照文件与链上第 {v} 版一致：{status}", "c.no_file": "此证照包不含证照文件。",
      "rc.file_mismatch": "文件与链上任何版本都不一致：已被改动，或从未签发。", "rc.file_unknown": "文件未注明是哪个证照：请填写证照编号。", "rc.sequence_taken": "证照编号已被占用，请重试。",
      "rc.malformed": "请求格式不对（未签名？）。",
      "rc.offline": "无法连接节点。", "rc.not_committed": "交易未能及时上链，请稍后查看。", "rc.read_not_committed": "查阅记录未能及时上链，请重试。", "rc.replayed": "这笔交易已提交过。",
    },
    en: {
      "c.desk": "Licence desk", "c.issuer": "Issuing console", "c.holder": "My licences", "c.relying": "Relying party", "c.regulator": "Regulator dashboard",
      "c.desk.note": "These pages sign in the browser: a key file is used only in this page's memory, never stored and never sent to the node.",
      "c.key.none": "No key loaded yet.", "c.key.loaded": "Key loaded ({suite}): {key}", "c.key.issuer": "Issuer's key", "c.key.holder": "Holder's key", "c.key.relying": "Relying organisation member's key", "c.key.regulator": "Regulator's or auditor's key",
      "c.type": "Licence type", "c.data": "Licence data", "c.required": "required", "c.personal": "personal",
      "c.holder_code": "Holder's identifier (unified social credit code or ID number)", "c.holder_key": "Holder's public key (hex)", "c.gen_holder": "Generate a holder key pair in the browser",
      "c.gen_done": "Holder key pair generated. Download the key file for the holder (only now: the page keeps nothing).", "c.download_key": "Download the holder's key file",
      "c.valid_until": "Valid until (optional)", "c.issue": "Sign and issue", "c.working": "Signing, submitting and waiting for the block…",
      "c.issued": "Issued: {id}", "c.deposited": "The licence data is in this node's private store, encrypted.", "c.download_bundle": "Download the holder's bundle", "c.open_check": "Open the public check",
      "c.lifecycle": "Change a licence's status", "c.licence_id": "Licence id", "c.operation": "Operation", "c.reason": "Reason", "c.apply": "Sign and submit", "c.changed": "{id} is now: {status}",
      "c.bundles": "Licence bundles (one or more)", "c.my": "My licences", "c.none_loaded": "Load a licence bundle.", "c.key_mismatch": "The loaded key is not this licence's holder key",
      "c.authorise": "Authorise a use", "c.relying_org": "Relying organisation", "c.service": "Service item", "c.fields": "Fields it may see", "c.hours": "Valid for (hours)", "c.one_time": "One use only",
      "c.sign_auth": "Sign the authorisation", "c.auth_ready": "Authorisation ready: hand the file below to the relying organisation.", "c.download_auth": "Download the authorisation", "c.history": "Lifecycle (public)",
      "c.uses_note": "Recorded uses are restricted data: only the issuing organisation and regulators read them.",
      "c.auth_file": "Authorisation file", "c.auth_paste": "or paste the authorisation JSON", "c.use": "Record the use and fetch the data",
      "c.verified": "The data below matches the licence's data digest on chain (version {v}).", "c.fetched": "Data from the issuing node", "c.presented": "Data the holder presented", "c.use_tx": "Use transaction",
      "c.purpose": "Purpose (recorded on chain)", "c.purpose.default": "supervisory check", "c.load": "Sign and read", "c.by_org": "By issuing organisation", "c.by_type": "By licence type", "c.by_op": "By operation", "c.by_day": "By day",
      "c.recent_uses": "Recent uses", "c.access_log": "Restricted reads", "c.reader": "Reader", "c.query": "What", "c.none": "Nothing yet.",
      "c.use_by": "Used by", "c.t": "Time", "c.total": "Operations", "op.use": "used",
      "c.qr_note": "The relying party scans this QR code (the authorisation and its signature only), then fetches the authorised fields from the issuing node.", "c.qr_too_long": "The authorisation is too long for a QR code: hand over the file.",
      "rc.title": "Refused ({code}): ", "rc.unknown": "The node says: ",
      "rc.forbidden": "Not allowed to do this.", "rc.not_a_member": "This key is not an enrolled consortium member.", "rc.member_revoked": "This member's certificate is revoked.", "rc.member_expired": "This member's certificate has expired.",
      "rc.not_a_consortium": "E-licences need a consortium chain.", "rc.unknown_licence_type": "No such licence type.", "rc.licence_type_invalid": "The licence type's definition is unusable.",
      "rc.issuer_not_allowed": "This organisation may not issue this type.", "rc.transition_forbidden": "The licence's status does not allow this.", "rc.bad_authorisation": "The authorisation is invalid (signature, shape or chain).",
      "rc.authorisation_expired": "The authorisation has expired.", "rc.authorisation_not_yet_valid": "The authorisation is not valid yet.", "rc.authorisation_replayed": "This one-time authorisation was already used.",
      "rc.out_of_scope": "Outside the authorisation (organisation or fields).", "rc.licence_not_valid": "The licence is not valid now (suspended, revoked, cancelled or expired).",
      "rc.digest_mismatch": "The data does not match the digest on chain.", "rc.disclosure_mismatch": "The presented data does not match the licence's digest on chain: it may have been altered.", "rc.not_found": "Not found.",
      "rc.invalid_args": "Invalid arguments.", "rc.conflict": "Version conflict.", "rc.wrong_chain": "Meant for another chain.", "rc.expired": "The signature expired: try again.", "rc.bad_signature": "Bad signature.",
      "rc.unknown_tx": "No such transaction.", "rc.schema_invalid": "The data does not fit the licence type's schema.", "rc.wrong_holder_key": "This key is not the licence holder's key.",
      "rc.bad_key_file": "Not a usable key file.", "rc.wrong_suite": "The key's suite is not this chain's.", "rc.no_key": "Load a key file first.", "rc.bad_file": "Cannot read the file (not JSON?).",
      "c.change": "Change a licence (new version)", "c.change.note": "Load the licence's current bundle, edit the data and sign: this node renders the new version's file, whose digest goes on chain with the change.", "c.change.bundle": "Current bundle",
      "c.change.sign": "Sign and change", "c.changed_to": "{id} is now version {v}.",
      "c.download_pdf": "Download the licence file (PDF)", "c.file_check": "Check a licence file", "c.file_note": "The file is hashed in this browser, never uploaded: the node sees only its digest.",
      "c.pdf_file": "Licence file (PDF)", "c.pdf_id": "Licence id (optional: if the file does not name it)", "c.check_file": "Check the file", "c.file_is": "This file is version {v} of {id}, which is: {status}",
      "c.file_matches": "The licence file matches version {v} on chain: {status}", "c.no_file": "This bundle holds no licence file.",
      "rc.file_mismatch": "The file matches no version on chain: it was altered, or never issued.", "rc.file_unknown": "The file names no licence: give the licence id.", "rc.sequence_taken": "That licence number was taken: try again.",
      "rc.malformed": "Malformed request (not signed?).",
      "rc.offline": "Cannot reach the node.", "rc.not_committed": "Not committed in time: look again later.", "rc.read_not_committed": "The read was not committed in time: try again.", "rc.replayed": "This transaction was already submitted.",
    },
  });

  // --- shared pieces ------------------------------------------------------------------

  class Refusal extends Error { constructor(code, message) { super(message); this.code = code; } }

  /* A failure as the node's (or our) reason code with a translated message, then the detail. */
  function failure(err) {
    const code = (err && err.code) || "error";
    const known = t("rc." + code);
    const text = t("rc.title", { code }) + (known !== "rc." + code ? known + " " : t("rc.unknown")) + ((err && err.message) || "");
    return '<div class="msg error" role="alert" data-code="' + esc(code) + '">' + esc(text) + "</div>";
  }

  function tabs(active) {
    return '<nav class="lc-tabs">' + ["issuer", "holder", "relying", "regulator"].map((r) =>
      '<a href="/licences/' + r + '"' + (r === active ? ' class="active"' : "") + ">" + esc(t("c." + r)) + "</a>").join("") + "</nav>";
  }

  function keyPanel(role) {
    return '<div class="panel lc-key"><label>' + esc(t("c.key." + role)) + ' <input type="file" id="key-file" accept=".json,application/json"></label>' +
      '<div id="key-status" class="muted">' + esc(keyStatus(role)) + "</div></div>";
  }
  function keyStatus(role) {
    const k = held[role];
    return k ? t("c.key.loaded", { suite: k.suite, key: P.short(S.toHex(k.public), 12) }) : t("c.key.none");
  }

  async function readText(input) {
    const file = input.files && input.files[0];
    if (!file) return null;
    return file.text();
  }
  function parseJson(text) {
    try { return JSON.parse(text); } catch (e) { throw new Refusal("bad_file", e.message); }
  }

  /* Wires the key input; `done` runs after a key is loaded (or the load failed, with the error). */
  function wireKey(el, role, done) {
    el.querySelector("#key-file").addEventListener("change", async (ev) => {
      const status = el.querySelector("#key-status");
      try {
        held[role] = S.loadKeyFile(await readText(ev.target));
        status.className = "muted";
        status.textContent = keyStatus(role);
        if (done) done(null);
      } catch (err) {
        held[role] = null;
        status.innerHTML = failure(err);
        if (done) done(err);
      }
    });
  }
  function needKey(role) {
    if (!held[role]) throw new Refusal("no_key", "");
    return held[role];
  }

  /* A download link for `data` (text, or bytes); the object URL is released when the page is left. */
  function downloadLink(id, name, data, label, onLeave, type) {
    const url = URL.createObjectURL(new Blob([data], { type: type || "application/json" }));
    onLeave(() => URL.revokeObjectURL(url));
    return '<a class="btn secondary" id="' + esc(id) + '" download="' + esc(name) + '" href="' + esc(url) + '">' + esc(label) + "</a>";
  }

  /* Runs `work` behind a button: busy state, then its HTML or the failure into `out`. */
  function action(button, out, work) {
    button.addEventListener("click", async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      out.innerHTML = '<p class="muted">' + esc(t("c.working")) + "</p>";
      try {
        out.innerHTML = await work();
      } catch (err) {
        out.innerHTML = failure(err);
      } finally {
        button.disabled = false;
      }
    });
  }

  /* A QR code drawn here (vendor/qrcode.js), so what it holds never reaches a server: one square per
   * dark module, with a four-module quiet zone. Byte mode, UTF-8, error correction L. */
  function qrSvg(text) {
    const lib = window.qrcode;
    lib.stringToBytes = lib.stringToBytesFuncs["UTF-8"];
    const qr = lib(0, "L");
    qr.addData(text, "Byte");
    qr.make();
    const n = qr.getModuleCount();
    let d = "";
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += "M" + (c + 4) + "," + (r + 4) + "h1v1h-1z";
    return '<svg xmlns="http://www.w3.org/2000/svg" class="lc-qr" viewBox="0 0 ' + (n + 8) + " " + (n + 8) + '" data-modules="' + n +
      '" shape-rendering="crispEdges" role="img" aria-label="QR"><rect width="100%" height="100%" fill="#fff"></rect><path fill="#000" d="' + d + '"></path></svg>';
  }

  function statusTag(status) {
    return '<span class="tag ' + (status === "valid" ? "ok" : "bad") + '" data-status="' + esc(status) + '">' + esc(t("s." + status)) + "</span>";
  }
  function orgName(org) { return P.lang === "en" ? org.name_en : org.name_zh; }
  function licencePath(id) { return "/v1/licences/" + encodeURIComponent(id); }
  function fieldsTable(fields) {
    return P.kv(Object.entries(fields).map(([k, v]) => [k, esc(typeof v === "string" ? v : JSON.stringify(v))]));
  }

  /* GovLicence.checkFile's lookup: the public status reply for a digest. */
  function byDigest(id, digest) { return api(licencePath(id) + "?digest=" + digest); }

  /* A file check's verdict, translated: the matched version's status, or why nothing matched. */
  function fileVerdict(id, verdict) {
    const text = verdict.version ? t("c.file_is", { id: verdict.licence, v: verdict.version, status: t("s." + verdict.code) }) : t("rc." + verdict.code);
    return '<div class="msg ' + (verdict.ok ? "info" : "error") + '" id="' + esc(id) + '" role="status" data-code="' + esc(verdict.code) + '"' +
      (verdict.version ? ' data-version="' + verdict.version + '"' : "") + ">" + esc(text) + ' <span class="muted">' + esc(verdict.digest) + "</span></div>";
  }

  // --- issuing console (client.issue, deposit, transition) ----------------------------

  const SEQUENCE_ATTEMPTS = 8; // as client.SEQUENCE_ATTEMPTS

  /* client.issuer_org: the organisation of this key among those that may issue `kind`. */
  async function issuerOrg(keys, kind) {
    const mine = S.toHex(keys.public);
    for (const org of kind.issuers.slice().sort()) {
      const { members } = await api("/v1/members?org=" + encodeURIComponent(org));
      if (members.some((m) => m.key === mine)) return org;
    }
    throw new Refusal("issuer_not_allowed", kind.code);
  }

  /* The licence file, rendered by this (the issuing) node for its own issuer: a signed request
   * (POST /v1/licences/render), since reportlab does not run in a browser. Returns the PDF's bytes. */
  async function renderFile(keys, body) {
    const { id: chainId } = await S.chain();
    let res;
    try {
      res = await fetch("/v1/licences/render", { method: "POST", headers: { accept: "application/pdf", "content-type": "application/json" },
        body: JSON.stringify(S.signRequest(keys, chainId, "licence/render", body)) });
    } catch (e) { throw new Refusal("offline", ""); }
    if (!res.ok) {
      let err = {};
      try { err = (await res.json()).error || {}; } catch (e) { err = {}; }
      throw new Refusal(err.code || "http_" + res.status, err.message || "HTTP " + res.status);
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  /* client._issue_rendered: next free sequence, render for that id, issue with that sequence and
   * the file's digest; on `sequence_taken` (another issue came first), the next one. */
  async function issueRendered(keys, kind, fields, prepared) {
    const org = await issuerOrg(keys, kind);
    let tried = 0;
    for (let i = 0; i < SEQUENCE_ATTEMPTS; i++) {
      const next = await api("/v1/licences/types/" + encodeURIComponent(kind.code) + "/next-sequence?org=" + encodeURIComponent(org));
      const sequence = Math.max(next.sequence, tried + 1);
      const pdf = await renderFile(keys, { type: kind.code, sequence, version: 1, fields, salts: prepared.salts,
        valid_from: prepared.args.valid_from, valid_until: prepared.args.valid_until });
      try {
        const done = await S.call(keys, "licence", "issue", Object.assign({}, prepared.args, { sequence, file_digest: L.hash(keys.suite, pdf) }));
        return { done, pdf };
      } catch (err) {
        if (err.code !== "sequence_taken") throw err;
        tried = sequence;
      }
    }
    throw new Refusal("sequence_taken", SEQUENCE_ATTEMPTS + " sequences in a row were taken");
  }

  /* client.change: version current + 1 from the current bundle, its file rendered for that version
   * and its digest on chain with the change (`conflict` if the bundle or the version is stale). */
  async function changeRendered(keys, bundle, fields, reason) {
    const current = await api(licencePath(bundle.licence));
    if (bundle.version !== current.version) {
      throw new Refusal("conflict", "the bundle is version " + bundle.version + " but " + bundle.licence + " is at version " + current.version);
    }
    const data = L.versionData(keys.suite, fields);
    const version = current.version + 1;
    const pdf = await renderFile(keys, { type: bundle.type, id: bundle.licence, version, fields, salts: data.salts,
      valid_from: current.valid_from, valid_until: current.valid_until });
    const done = await S.call(keys, "licence", "change", { id: bundle.licence, reason, data_digest: data.digest, file_digest: L.hash(keys.suite, pdf), version });
    const { result } = await api("/v1/txs/" + done.id);
    const next = Object.assign({}, bundle, { version: result.data.version, fields, salts: data.salts, data_digest: S.toHex(data.digest) }, L.fileEntries(keys.suite, pdf));
    return { bundle: next, pdf };
  }

  /* The issuer's hand-over: the deposit (its failure shown, the bundle offered anyway), the bundle and the PDF. */
  async function handOver(keys, bundle, pdf, onLeave, prefix) {
    let deposited;
    try {
      await S.postSigned(keys, licencePath(bundle.licence) + "/private", "licence/deposit", { bundle });
      deposited = esc(t("c.deposited")) + "</div>";
    } catch (err) {
      deposited = "</div>" + failure(err);
    }
    return deposited + "<p>" + downloadLink(prefix + "-bundle", bundle.licence + ".bundle.json", JSON.stringify(bundle, null, 2), t("c.download_bundle"), onLeave) + " " +
      downloadLink(prefix + "-pdf", bundle.licence + ".pdf", pdf, t("c.download_pdf"), onLeave, "application/pdf") + " " +
      P.link("/licences/" + bundle.licence + "?v=" + bundle.version + "&d=" + bundle.data_digest, t("c.open_check")) + "</p>";
  }

  /* A form input per schema property: text (or a list for `enum`), integer or checkbox. */
  function schemaForm(kind) {
    const required = kind.schema.required || [];
    return Object.entries(kind.schema.properties).map(([name, prop]) => {
      const label = esc(prop.title || name) + (required.includes(name) ? ' <span class="tag">' + esc(t("c.required")) + "</span>" : "") +
        (kind.personal.includes(name) ? ' <span class="tag bad">' + esc(t("c.personal")) + "</span>" : "");
      let input;
      if (Array.isArray(prop.enum)) input = '<select data-field="' + esc(name) + '"><option value=""></option>' + prop.enum.map((v) => "<option>" + esc(v) + "</option>").join("") + "</select>";
      else if (prop.type === "boolean") input = '<input type="checkbox" data-field="' + esc(name) + '">';
      else input = '<input data-field="' + esc(name) + '"' + (prop.type === "integer" ? ' type="number" step="1"' : "") + ">";
      return '<label class="lc-field">' + label + input + "</label>";
    }).join("");
  }

  /* The form's values, checked as client.check_fields does for what a form can hold. */
  function formFields(form, kind) {
    const fields = {};
    const required = kind.schema.required || [];
    for (const input of form.querySelectorAll("[data-field]")) {
      const name = input.dataset.field;
      const prop = kind.schema.properties[name] || {};
      if (prop.type === "boolean") { fields[name] = input.checked; continue; }
      const raw = input.value.trim();
      if (raw === "") {
        if (required.includes(name)) throw new Refusal("schema_invalid", name + ": " + t("c.required"));
        continue;
      }
      if (prop.type === "integer") {
        if (!/^-?\d+$/.test(raw)) throw new Refusal("schema_invalid", name + ": integer");
        fields[name] = Number(raw);
      } else fields[name] = raw;
    }
    return fields;
  }

  P.route("/licences/issuer", async ({ el, alive, onLeave }) => {
    const { types } = await api("/v1/licences/types");
    if (!alive()) return;
    const usable = types.filter((ty) => !ty.unusable);
    el.innerHTML = tabs("issuer") + "<h1>" + esc(t("c.issuer")) + '</h1><p class="muted">' + esc(t("c.desk.note")) + "</p>" + keyPanel("issuer") +
      '<form class="panel lc-form" id="issue-form"><h2>' + esc(t("c.data")) + '</h2><label class="lc-field">' + esc(t("c.type")) + '<select id="lc-type">' +
      usable.map((ty) => '<option value="' + esc(ty.code) + '">' + esc(ty.code + " · " + (P.lang === "en" ? ty.name_en : ty.name_zh)) + "</option>").join("") + "</select></label>" +
      '<div id="lc-fields"></div><label class="lc-field">' + esc(t("c.holder_code")) + '<input id="lc-holder-code" autocomplete="off"></label>' +
      '<label class="lc-field">' + esc(t("c.holder_key")) + '<textarea id="lc-holder-key" rows="2" spellcheck="false"></textarea></label>' +
      '<p><button class="btn secondary" type="button" id="lc-gen">' + esc(t("c.gen_holder")) + '</button></p><div id="lc-gen-out"></div>' +
      '<label class="lc-field">' + esc(t("c.valid_until")) + '<input type="date" id="lc-until"></label>' +
      '<p><button class="btn" type="submit" id="lc-issue">' + esc(t("c.issue")) + '</button></p><div id="lc-issue-out"></div></form>' +
      '<form class="panel lc-form" id="life-form"><h2>' + esc(t("c.lifecycle")) + '</h2><label class="lc-field">' + esc(t("c.licence_id")) + '<input id="lc-life-id" autocomplete="off"></label>' +
      '<label class="lc-field">' + esc(t("c.operation")) + '<select id="lc-op">' + ["suspend", "resume", "revoke", "cancel"].map((op) => '<option value="' + op + '">' + esc(t("op." + op)) + "</option>").join("") + "</select></label>" +
      '<label class="lc-field">' + esc(t("c.reason")) + '<input id="lc-reason" autocomplete="off"></label><p><button class="btn" type="submit" id="lc-apply">' + esc(t("c.apply")) + '</button></p><div id="lc-life-out"></div></form>' +
      '<form class="panel lc-form" id="change-form"><h2>' + esc(t("c.change")) + '</h2><p class="muted">' + esc(t("c.change.note")) + '</p><label class="lc-field">' + esc(t("c.change.bundle")) +
      ' <input type="file" id="lc-chg-bundle" accept=".json,application/json"></label><div id="lc-chg-fields"></div><label class="lc-field">' + esc(t("c.reason")) +
      '<input id="lc-chg-reason" autocomplete="off"></label><p><button class="btn" type="submit" id="lc-change">' + esc(t("c.change.sign")) + '</button></p><div id="lc-chg-out"></div></form>';
    wireKey(el, "issuer");
    const typeSelect = el.querySelector("#lc-type");
    const kindOf = () => usable.find((ty) => ty.code === typeSelect.value);
    const showFields = () => { const k = kindOf(); el.querySelector("#lc-fields").innerHTML = k ? schemaForm(k) : P.message("info", t("l.none")); };
    typeSelect.addEventListener("change", showFields);
    showFields();
    if (lastIssued) el.querySelector("#lc-life-id").value = lastIssued;

    el.querySelector("#lc-gen").addEventListener("click", async () => {
      const out = el.querySelector("#lc-gen-out");
      try {
        const { suite } = await S.chain();
        const keys = S.generateKeys(suite);
        el.querySelector("#lc-holder-key").value = S.toHex(keys.public);
        out.innerHTML = P.message("info", t("c.gen_done")) + "<p>" + downloadLink("lc-holder-key-file", "holder-key.json", S.keyFileText(keys), t("c.download_key"), onLeave) + "</p>";
      } catch (err) { out.innerHTML = failure(err); }
    });

    action(el.querySelector("#lc-issue"), el.querySelector("#lc-issue-out"), async () => {
      const keys = needKey("issuer");
      const kind = kindOf();
      if (!kind) throw new Refusal("unknown_licence_type", "");
      const fields = formFields(el.querySelector("#issue-form"), kind);
      const holderCode = el.querySelector("#lc-holder-code").value.trim();
      if (!holderCode) throw new Refusal("invalid_args", t("c.holder_code"));
      let holderKey;
      try { holderKey = S.fromHex(el.querySelector("#lc-holder-key").value.trim()); } catch (e) { holderKey = null; }
      if (!holderKey || holderKey.length !== 65 || holderKey[0] !== 4) throw new Refusal("invalid_args", t("c.holder_key"));
      const until = el.querySelector("#lc-until").value;
      const validUntil = until ? Date.parse(until + "T23:59:59") : null;
      const { id: chainId } = await S.chain();
      const prepared = L.prepareIssue(keys.suite, kind, kind.code, fields, holderCode, holderKey, validUntil);
      const { done, pdf } = await issueRendered(keys, kind, fields, prepared);
      const { result } = await api("/v1/txs/" + done.id);
      const bundle = prepared.bundle(chainId, result.data.id, result.data.version, done.id, pdf);
      lastIssued = bundle.licence;
      el.querySelector("#lc-life-id").value = bundle.licence;
      // The licence is on chain now: whatever the deposit does, the holder's bundle (its salts exist nowhere else) is offered.
      return '<div class="msg info" id="lc-issued" data-licence="' + esc(bundle.licence) + '" data-file-digest="' + esc(bundle.file_digest) + '">' +
        esc(t("c.issued", { id: bundle.licence })) + " " + (await handOver(keys, bundle, pdf, onLeave, "lc"));
    });

    let changing = null; // the bundle to change: the one loaded, then the version the last change made
    const box = el.querySelector("#lc-chg-fields");
    const showChanging = (bundle, kind) => {
      changing = { bundle, kind };
      box.dataset.version = String(bundle.version);
      box.innerHTML = P.kv([[t("c.licence_id"), esc(bundle.licence)], [t("l.version"), esc(String(bundle.version))]]) + schemaForm(kind);
      for (const input of box.querySelectorAll("[data-field]")) {
        const value = bundle.fields[input.dataset.field];
        if (input.type === "checkbox") input.checked = value === true;
        else if (value !== undefined) input.value = String(value);
      }
    };
    el.querySelector("#lc-chg-bundle").addEventListener("change", async (ev) => {
      try {
        const text = (await readText(ev.target)) || "";
        ev.target.value = ""; // so that loading the same file again (after a change) is seen
        const bundle = parseJson(text);
        const kind = usable.find((ty) => ty.code === bundle.type);
        if (!kind || typeof bundle.licence !== "string" || typeof bundle.fields !== "object") throw new Refusal("bad_file", t("c.change.bundle"));
        showChanging(bundle, kind);
      } catch (err) { changing = null; delete box.dataset.version; box.innerHTML = failure(err); }
    });
    action(el.querySelector("#lc-change"), el.querySelector("#lc-chg-out"), async () => {
      const keys = needKey("issuer");
      if (!changing) throw new Refusal("bad_file", t("c.change.bundle"));
      const fields = formFields(el.querySelector("#change-form"), changing.kind);
      const { bundle, pdf } = await changeRendered(keys, changing.bundle, fields, el.querySelector("#lc-chg-reason").value.trim());
      showChanging(bundle, changing.kind);
      return '<div class="msg info" id="lc-changed-version" data-licence="' + esc(bundle.licence) + '" data-version="' + bundle.version + '">' +
        esc(t("c.changed_to", { id: bundle.licence, v: bundle.version })) + " " + (await handOver(keys, bundle, pdf, onLeave, "lc-new"));
    });

    action(el.querySelector("#lc-apply"), el.querySelector("#lc-life-out"), async () => {
      const keys = needKey("issuer");
      const id = el.querySelector("#lc-life-id").value.trim();
      const op = el.querySelector("#lc-op").value;
      const reason = el.querySelector("#lc-reason").value.trim();
      const done = await S.call(keys, "licence", op, { id, reason });
      const { result } = await api("/v1/txs/" + done.id);
      return '<div class="msg info" id="lc-changed" data-status="' + esc(result.data.status) + '">' +
        esc(t("c.changed", { id, status: t("s." + (result.data.status === "active" ? "valid" : result.data.status)) })) + "</div>";
    });
  });

  // --- holder (client.authorise) -------------------------------------------------------

  /* A bundle's licence file: a download link, and whether it matches the chain (checked here, by digest). */
  async function holderFile(bundle, suite, onLeave) {
    if (typeof bundle.file !== "string") return '<p class="muted">' + esc(t("c.no_file")) + "</p>";
    let pdf;
    try { pdf = L.fromBase64(bundle.file); } catch (e) { return failure(new Refusal("bad_file", "file")); }
    const verdict = await L.checkFile(suite, bundle.chain, pdf, bundle.licence, byDigest);
    const text = verdict.version ? t("c.file_matches", { v: verdict.version, status: t("s." + verdict.code) }) : t("rc." + verdict.code);
    return '<div class="lc-file"><div class="msg ' + (verdict.ok ? "info" : "error") + '" data-file-code="' + esc(verdict.code) + '">' + esc(text) + "</div><p>" +
      downloadLink("hd-pdf-" + bundle.licence, bundle.licence + ".pdf", pdf, t("c.download_pdf"), onLeave, "application/pdf") + "</p></div>";
  }

  async function holderCards(el, onLeave) {
    const box = el.querySelector("#hd-list");
    if (!holderBundles.size) { box.innerHTML = P.message("info", t("c.none_loaded")); return; }
    const { suite } = await S.chain();
    const cards = [];
    for (const bundle of holderBundles.values()) {
      let status;
      try { status = (await api(licencePath(bundle.licence))).status; } catch (err) { status = null; }
      const mismatch = held.holder && L.holderDid(held.holder.suite, held.holder.public) !== bundle.holder_did;
      cards.push('<div class="panel lc-licence" data-licence="' + esc(bundle.licence) + '"><h2>' + P.link("/licences/" + bundle.licence, bundle.licence) + " " +
        (status ? statusTag(status) : "") + "</h2>" + (mismatch ? P.message("error", t("c.key_mismatch")) : "") +
        P.kv([[t("l.type"), esc(bundle.type)], [t("l.version"), esc(String(bundle.version))], ["DID", P.hex(bundle.holder_did)]]) + fieldsTable(bundle.fields) +
        (await holderFile(bundle, suite, onLeave)) + "<p>" + P.link("/licences/" + bundle.licence, t("c.history")) + "</p></div>");
    }
    box.innerHTML = cards.join("");
  }

  function authForm(orgs) {
    const bundles = Array.from(holderBundles.values());
    if (!bundles.length) return "";
    const first = bundles[0];
    return '<form class="panel lc-form" id="auth-form"><h2>' + esc(t("c.authorise")) + '</h2><label class="lc-field">' + esc(t("c.licence_id")) + '<select id="hd-licence">' +
      bundles.map((b) => "<option>" + esc(b.licence) + "</option>").join("") + '</select></label><label class="lc-field">' + esc(t("c.relying_org")) + '<select id="hd-org">' +
      orgs.map((o) => '<option value="' + esc(o.id) + '">' + esc(o.id + " · " + orgName(o)) + "</option>").join("") + '</select></label><label class="lc-field">' + esc(t("c.service")) +
      '<input id="hd-service" autocomplete="off"></label><fieldset class="lc-field"><legend>' + esc(t("c.fields")) + '</legend><div id="hd-fields">' + fieldChecks(first) + "</div></fieldset>" +
      '<label class="lc-field">' + esc(t("c.hours")) + '<input id="hd-hours" type="number" min="1" step="1" value="24"></label><label class="lc-check"><input type="checkbox" id="hd-once" checked> ' +
      esc(t("c.one_time")) + '</label><p><button class="btn" type="submit" id="hd-sign">' + esc(t("c.sign_auth")) + '</button></p><div id="hd-out"></div></form>';
  }
  function fieldChecks(bundle) {
    return Object.keys(bundle.fields).map((f) => '<label class="lc-check"><input type="checkbox" value="' + esc(f) + '"> ' + esc(f) + "</label>").join("");
  }

  P.route("/licences/holder", async ({ el, alive, onLeave }) => {
    const { orgs } = await api("/v1/orgs");
    if (!alive()) return;
    el.innerHTML = tabs("holder") + "<h1>" + esc(t("c.holder")) + '</h1><p class="muted">' + esc(t("c.desk.note")) + "</p>" + keyPanel("holder") +
      '<div class="panel"><label>' + esc(t("c.bundles")) + ' <input type="file" id="hd-bundles" multiple accept=".json,application/json"></label><div id="hd-load-out"></div></div>' +
      "<h2>" + esc(t("c.my")) + '</h2><div id="hd-list"></div><div id="hd-auth"></div><p class="muted">' + esc(t("c.uses_note")) + "</p>";
    const refresh = async () => {
      await holderCards(el, onLeave);
      if (!alive()) return;
      el.querySelector("#hd-auth").innerHTML = authForm(orgs);
      const form = el.querySelector("#auth-form");
      if (!form) return;
      form.querySelector("#hd-licence").addEventListener("change", (ev) => { form.querySelector("#hd-fields").innerHTML = fieldChecks(holderBundles.get(ev.target.value)); });
      action(form.querySelector("#hd-sign"), form.querySelector("#hd-out"), async () => {
        const keys = needKey("holder");
        const bundle = holderBundles.get(form.querySelector("#hd-licence").value);
        const fields = Array.from(form.querySelectorAll("#hd-fields input:checked"), (i) => i.value);
        const service = form.querySelector("#hd-service").value.trim();
        if (!service) throw new Refusal("invalid_args", t("c.service"));
        const hours = Number(form.querySelector("#hd-hours").value) || 24;
        const presented = L.authorise(keys, bundle, form.querySelector("#hd-org").value, service, fields, Math.round(hours * HOUR_MS), form.querySelector("#hd-once").checked);
        const text = JSON.stringify(presented, null, 2);
        // The QR code holds the signed authorisation only: the relying party fetches the fields from the issuing node.
        let qr;
        try { qr = '<figure class="lc-qr-box" id="hd-qr">' + qrSvg(JSON.stringify({ auth: presented.auth, sig: presented.sig })) + "<figcaption>" + esc(t("c.qr_note")) + "</figcaption></figure>"; }
        catch (e) { qr = P.message("info", t("c.qr_too_long")); }
        return P.message("info", t("c.auth_ready")) + "<p>" + downloadLink("hd-auth-file", bundle.licence + ".authorisation.json", text, t("c.download_auth"), onLeave) + "</p>" + qr + P.json(presented);
      });
    };
    wireKey(el, "holder", () => refresh());
    el.querySelector("#hd-bundles").addEventListener("change", async (ev) => {
      const out = el.querySelector("#hd-load-out");
      out.innerHTML = "";
      try {
        for (const file of ev.target.files) {
          const bundle = parseJson(await file.text());
          if (!bundle || typeof bundle.licence !== "string" || typeof bundle.fields !== "object" || typeof bundle.salts !== "object") throw new Refusal("bad_file", file.name);
          holderBundles.set(bundle.licence, bundle);
        }
      } catch (err) { out.innerHTML = failure(err); }
      await refresh();
    });
    await refresh();
  });

  // --- relying party (client.use, client.fetch) --------------------------------------------

  P.route("/licences/relying", async ({ el }) => {
    const fileCheck = '<form class="panel lc-form" id="rp-file-form"><h2>' + esc(t("c.file_check")) + '</h2><p class="muted">' + esc(t("c.file_note")) + "</p>" +
      '<label class="lc-field">' + esc(t("c.pdf_file")) + '<input type="file" id="rp-pdf" accept=".pdf,application/pdf"></label>' +
      '<label class="lc-field">' + esc(t("c.pdf_id")) + '<input id="rp-pdf-id" autocomplete="off"></label>' +
      '<p><button class="btn" type="submit" id="rp-check">' + esc(t("c.check_file")) + '</button></p><div id="rp-file-out"></div></form>';
    el.innerHTML = tabs("relying") + "<h1>" + esc(t("c.relying")) + '</h1><p class="muted">' + esc(t("c.desk.note")) + "</p>" + keyPanel("relying") +
      '<form class="panel lc-form" id="rp-form"><label class="lc-field">' + esc(t("c.auth_file")) + '<input type="file" id="rp-file" accept=".json,application/json"></label>' +
      '<label class="lc-field">' + esc(t("c.auth_paste")) + '<textarea id="rp-json" rows="4" spellcheck="false"></textarea></label>' +
      '<p><button class="btn" type="submit" id="rp-use">' + esc(t("c.use")) + '</button></p><div id="rp-out"></div></form>' + fileCheck;
    wireKey(el, "relying");
    action(el.querySelector("#rp-check"), el.querySelector("#rp-file-out"), async () => {
      const file = el.querySelector("#rp-pdf").files[0];
      if (!file) throw new Refusal("invalid_args", t("c.pdf_file"));
      const { id: chainId, suite } = await S.chain();
      const pdf = new Uint8Array(await file.arrayBuffer());
      return fileVerdict("rp-file-verdict", await L.checkFile(suite, chainId, pdf, el.querySelector("#rp-pdf-id").value.trim() || null, byDigest));
    });
    el.querySelector("#rp-file").addEventListener("change", async (ev) => { el.querySelector("#rp-json").value = (await readText(ev.target)) || ""; });
    action(el.querySelector("#rp-use"), el.querySelector("#rp-out"), async () => {
      const keys = needKey("relying");
      const presented = parseJson(el.querySelector("#rp-json").value);
      const args = L.useArgs(presented);
      const lid = presented.auth.licence;
      const done = await S.call(keys, "licence", "use", args);
      // What the holder presented, then what the issuing node holds: both against the digest on chain.
      const status = await api(licencePath(lid));
      const shown = presented.disclosure ? L.checkDisclosure(keys.suite, presented.disclosure, status.data_digest) : null;
      const reply = await S.postSigned(keys, licencePath(lid) + "/fetch", "licence/fetch", { use: S.fromHex(done.id) });
      const atVersion = await api(licencePath(lid) + "?version=" + reply.version);
      const fetched = L.checkDisclosure(keys.suite, reply.disclosure, atVersion.data_digest);
      const a = presented.auth;
      return '<div class="msg info" id="rp-verified" data-licence="' + esc(lid) + '">' + esc(t("c.verified", { v: reply.version })) + "</div>" +
        P.kv([[t("c.licence_id"), P.link("/licences/" + lid, lid)], [t("c.service"), esc(a.service)], [t("c.relying_org"), esc(a.relying_org)],
          [t("c.use_tx"), P.link("/txs/" + done.id, P.short(done.id, 10))]]) +
        "<h2>" + esc(t("c.fetched")) + '</h2><div id="rp-fields">' + fieldsTable(fetched) + "</div>" +
        (shown ? "<h2>" + esc(t("c.presented")) + "</h2>" + fieldsTable(shown) : "");
    });
  });

  // --- regulator dashboard (client.stats, client.uses, access_log) -------------------------

  /* Counts summed by one column, largest first, as a table with inline SVG bars. */
  function bars(id, rows, key, label) {
    const sums = new Map();
    for (const r of rows) sums.set(label(r[key]), (sums.get(label(r[key])) || 0) + r.count);
    const items = Array.from(sums).sort((a, b) => (key === "day" ? (a[0] < b[0] ? -1 : 1) : b[1] - a[1]));
    if (!items.length) return '<p class="muted">' + esc(t("c.none")) + "</p>";
    const top = Math.max(...items.map((i) => i[1]));
    return '<table class="list lc-bars" id="' + esc(id) + '"><tbody>' + items.map(([name, n]) =>
      '<tr data-key="' + esc(name) + '"><td>' + esc(name) + '</td><td class="n">' + n + '</td><td class="bar"><svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect width="' +
      (100 * n / top).toFixed(1) + '" height="10"></rect></svg></td></tr>').join("") + "</tbody></table>";
  }
  function dayText(day) { return new Date(day * L.DAY_MS).toISOString().slice(0, 10); }

  P.route("/licences/regulator", async ({ el }) => {
    el.innerHTML = tabs("regulator") + "<h1>" + esc(t("c.regulator")) + '</h1><p class="muted">' + esc(t("c.desk.note")) + "</p>" + keyPanel("regulator") +
      '<form class="panel lc-form" id="rg-form"><label class="lc-field">' + esc(t("c.purpose")) + '<input id="rg-purpose" value="' + esc(t("c.purpose.default")) + '"></label>' +
      '<p><button class="btn" type="submit" id="rg-load">' + esc(t("c.load")) + '</button></p></form><div id="rg-out"></div>';
    wireKey(el, "regulator");
    action(el.querySelector("#rg-load"), el.querySelector("#rg-out"), async () => {
      const keys = needKey("regulator");
      const purpose = el.querySelector("#rg-purpose").value.trim();
      const stats = await S.read(keys, "licence", "stats", {}, purpose);
      const orgs = Array.from(new Set(stats.map((r) => r.org))).sort();
      const uses = [];
      const refused = []; // an auditor reads only its own organisation's uses
      for (const org of orgs) {
        try { uses.push(...await S.read(keys, "licence", "uses", { org, limit: 20 }, purpose)); } catch (err) { if (err.code !== "forbidden") throw err; refused.push(org); }
      }
      uses.sort((a, b) => b.t - a.t);
      let log = [];
      try { log = await S.read(keys, "audit", "access_log", { limit: 20 }, purpose); } catch (err) { if (err.code !== "forbidden") throw err; }
      const total = stats.reduce((n, r) => n + r.count, 0);
      return '<div class="cards"><div class="card"><div class="k">' + esc(t("c.total")) + '</div><div class="v" id="rg-total">' + total + "</div></div></div>" +
        '<div class="lc-grid"><div><h2>' + esc(t("c.by_org")) + "</h2>" + bars("rg-org", stats, "org", String) + "</div><div><h2>" + esc(t("c.by_type")) + "</h2>" + bars("rg-type", stats, "type", String) +
        "</div><div><h2>" + esc(t("c.by_op")) + "</h2>" + bars("rg-op", stats, "op", (op) => t("op." + op) === "op." + op ? op : op + " · " + t("op." + op)) +
        "</div><div><h2>" + esc(t("c.by_day")) + "</h2>" + bars("rg-day", stats, "day", dayText) + "</div></div>" +
        "<h2>" + esc(t("c.recent_uses")) + "</h2>" + (refused.length ? failure({ code: "forbidden", message: refused.join(", ") }) : "") + (uses.length ? '<table class="list" id="rg-uses"><thead><tr><th>' + esc(t("c.licence_id")) + "</th><th>" + esc(t("c.use_by")) + "</th><th>" + esc(t("c.service")) +
          '</th><th class="wide">' + esc(t("c.fields")) + "</th><th>" + esc(t("c.t")) + "</th></tr></thead><tbody>" + uses.slice(0, 20).map((u) => "<tr><td>" + P.link("/licences/" + u.id, u.id) + "</td><td>" + esc(u.org) +
          "</td><td>" + esc(u.service) + '</td><td class="wide">' + esc(u.fields.join(", ")) + "</td><td>" + esc(P.time(u.t)) + "</td></tr>").join("") + "</tbody></table>" : '<p class="muted">' + esc(t("c.none")) + "</p>") +
        "<h2>" + esc(t("c.access_log")) + "</h2>" + (log.length ? '<table class="list" id="rg-log"><thead><tr><th>' + esc(t("c.reader")) + "</th><th>" + esc(t("c.query")) + "</th><th>" + esc(t("c.purpose")) +
          "</th></tr></thead><tbody>" + log.map((r) => "<tr><td>" + esc(r.org || "") + " " + esc(r.role || "") + "</td><td>" + esc((r.contract || "") + "." + (r.query || "")) + "</td><td>" + esc(r.purpose || "") + "</td></tr>").join("") +
          "</tbody></table>" : '<p class="muted">' + esc(t("c.none")) + "</p>");
    });
  });
})();
