/* E-licence pages: the catalogue (证照目录) and the public check (证照核验) a licence's QR code opens. */
(function () {
  "use strict";
  const P = window.Portal;
  const { t, esc, api } = P;

  P.strings({
    "zh-CN": {
      "l.title": "电子证照", "l.types": "证照目录", "l.find": "核验证照", "l.find.placeholder": "证照编号，如 BL-org2-00000001-7", "l.go": "核验",
      "l.code": "代码", "l.name": "名称", "l.issuers": "发证机构", "l.fields": "数据项", "l.personal": "个人信息项", "l.validity": "有效期（天）", "l.none": "尚无证照类型。证照类型由治理投票登记。",
      "l.check": "证照核验", "l.id": "证照编号", "l.type": "证照类型", "l.org": "发证机构", "l.version": "版本", "l.current": "（当前第 {v} 版）", "l.valid_from": "生效", "l.valid_until": "失效", "l.forever": "长期有效",
      "l.issued": "发证时间", "l.data_digest": "数据摘要", "l.file_digest": "文件摘要", "l.height": "核验依据区块", "l.history": "证照生命周期", "l.op": "操作", "l.reason": "原因", "l.time": "时间", "l.status": "状态",
      "l.digest_ok": "二维码中的摘要与链上一致", "l.digest_bad": "二维码中的摘要与链上不一致：证照内容可能被篡改",
      "l.scan": "扫码核验此证照", "l.unknown": "没有这个证照：",
      "s.valid": "有效", "s.suspended": "已暂停（暂扣/中止）", "s.revoked": "已吊销/撤销", "s.cancelled": "已注销", "s.expired": "已过期", "s.not_yet_valid": "尚未生效", "s.superseded": "已被新版本取代",
      "op.issue": "发证", "op.change": "变更", "op.renew": "延续", "op.suspend": "暂停", "op.resume": "恢复", "op.revoke": "吊销", "op.cancel": "注销",
    },
    en: {
      "l.title": "Licences", "l.types": "Licence types", "l.find": "Check a licence", "l.find.placeholder": "Licence id, e.g. BL-org2-00000001-7", "l.go": "Check",
      "l.code": "Code", "l.name": "Name", "l.issuers": "Issued by", "l.fields": "Fields", "l.personal": "Personal fields", "l.validity": "Validity (days)", "l.none": "No licence types yet. Types are registered by a governance vote.",
      "l.check": "Licence check", "l.id": "Licence id", "l.type": "Type", "l.org": "Issuing organisation", "l.version": "Version", "l.current": "(current: version {v})", "l.valid_from": "Valid from", "l.valid_until": "Valid until", "l.forever": "no end date",
      "l.issued": "Issued", "l.data_digest": "Data digest", "l.file_digest": "File digest", "l.height": "Checked at block", "l.history": "Lifecycle", "l.op": "Operation", "l.reason": "Reason", "l.time": "Time", "l.status": "Status",
      "l.digest_ok": "The digest in the QR code matches the chain", "l.digest_bad": "The digest in the QR code does not match the chain: the licence may have been altered",
      "l.scan": "Scan to check this licence", "l.unknown": "No such licence:",
      "s.valid": "Valid", "s.suspended": "Suspended", "s.revoked": "Revoked", "s.cancelled": "Cancelled", "s.expired": "Expired", "s.not_yet_valid": "Not yet valid", "s.superseded": "Superseded by a newer version",
      "op.issue": "issued", "op.change": "changed", "op.renew": "renewed", "op.suspend": "suspended", "op.resume": "resumed", "op.revoke": "revoked", "op.cancel": "cancelled",
    },
  });

  /** Table headings; a `wide` column is hidden on phones (with its cells). */
  function heads(columns) {
    return columns.map(([key, wide]) => "<th" + (wide ? ' class="wide"' : "") + ">" + esc(key === "tx" ? "tx" : t(key)) + "</th>").join("");
  }

  function findForm() {
    return '<form class="lic-find" id="lic-find"><input id="lic-id" autocomplete="off" placeholder="' + esc(t("l.find.placeholder")) + '"><button class="btn" type="submit">' + esc(t("l.go")) + "</button></form>";
  }

  function wireFind() {
    document.getElementById("lic-find").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = document.getElementById("lic-id").value.trim();
      if (id) location.assign("/licences/" + encodeURIComponent(id));
    });
  }

  P.route("/licences", async ({ el, alive }) => {
    const { types } = await api("/v1/licences/types");
    if (!alive()) return;
    const rows = types.map((ty) => ty.unusable
      ? "<tr><td>" + esc(ty.code) + '</td><td colspan="5">' + esc(ty.unusable) + "</td></tr>"
      : "<tr><td>" + esc(ty.code) + "</td><td>" + esc(P.lang === "en" ? ty.name_en : ty.name_zh) + "</td><td>" + esc(ty.issuers.join(", ")) + '</td><td class="wide">' +
        esc(Object.keys(ty.schema.properties).join(", ")) + '</td><td class="wide">' + esc(ty.personal.join(", ")) + "</td><td>" + esc(ty.validity_days === null ? t("l.forever") : String(ty.validity_days)) + "</td></tr>");
    const desk = '<nav class="lc-tabs" id="lic-desk">' + ["issuer", "holder", "relying", "regulator"].map((r) => P.link("/licences/" + r, t("c." + r))).join("") + "</nav>";
    el.innerHTML = "<h1>" + esc(t("l.title")) + "</h1><h2>" + esc(t("l.find")) + "</h2>" + findForm() + "<h2>" + esc(t("c.desk")) + "</h2>" + desk + "<h2>" + esc(t("l.types")) + "</h2>" +
      (types.length
        ? '<table class="list"><thead><tr>' + heads([["l.code"], ["l.name"], ["l.issuers"], ["l.fields", true], ["l.personal", true], ["l.validity"]]) + "</tr></thead><tbody>" + rows.join("") + "</tbody></table>"
        : P.message("info", t("l.none")));
    wireFind();
  });

  P.route("/licences/{licence_id}", async ({ el, params, query, alive }) => {
    const id = params.licence_id;
    const version = query.get("v");
    const digest = query.get("d");
    const path = "/v1/licences/" + encodeURIComponent(id) + "?" + new URLSearchParams(Object.assign({}, version ? { version } : {}, digest ? { digest } : {})).toString();
    let licence, history;
    try {
      [licence, history] = await Promise.all([api(path), api("/v1/licences/" + encodeURIComponent(id) + "/history")]);
    } catch (err) {
      if (err instanceof P.PortalError && (err.kind === "not_found" || err.kind === "bad_input")) { el.innerHTML = findForm() + P.message("error", t("l.unknown") + " " + err.message); wireFind(); return; }
      throw err;
    }
    const { orgs } = await api("/v1/orgs");
    if (!alive()) return;
    const org = orgs.find((o) => o.id === licence.org);
    const orgName = org ? (P.lang === "en" ? org.name_en : org.name_zh) + " (" + org.id + ")" : licence.org;
    const mismatch = digest && licence.digest_matches === false;
    const banner = '<div class="lic-status ' + esc(mismatch ? "mismatch" : licence.status) + '" id="lic-status" data-status="' + esc(licence.status) + '"><span class="big">' +
      esc(t("s." + licence.status)) + "</span><span>" + esc(licence.id) + " · " + esc(t("l.version")) + " " + esc(String(licence.version)) + "</span></div>" +
      (digest ? P.message(mismatch ? "error" : "info", t(mismatch ? "l.digest_bad" : "l.digest_ok")) : "");
    const fields = [
      [t("l.id"), esc(licence.id)],
      [t("l.type"), esc(licence.type)],
      [t("l.org"), org ? P.link("/orgs/" + org.id, orgName) : esc(orgName)],
      [t("l.version"), esc(String(licence.version)) + (licence.version !== licence.current_version ? " " + esc(t("l.current", { v: licence.current_version })) : "")],
      [t("l.valid_from"), esc(P.time(licence.valid_from))],
      [t("l.valid_until"), licence.valid_until === null ? esc(t("l.forever")) : esc(P.time(licence.valid_until))],
      [t("l.issued"), esc(P.time(licence.issued))],
      [t("l.data_digest"), P.hex(licence.data_digest)],
      [t("l.file_digest"), P.hex(licence.file_digest)],
      [t("l.height"), P.link("/blocks/" + licence.height, "#" + licence.height)],
    ];
    const qr = "/portal/licences/qr.svg?" + new URLSearchParams({ id: licence.id, v: String(licence.version), d: licence.data_digest }).toString();
    const rows = history.events.map((e) => "<tr><td>" + esc(t("op." + e.op)) + '</td><td class="wide">' + esc(String(e.version)) + "</td><td>" + esc(t("s." + (e.status === "active" ? "valid" : e.status))) +
      "</td><td>" + esc(e.reason) + "</td><td>" + esc(P.time(e.t)) + '</td><td class="wide">' + P.link("/txs/" + e.tx, P.short(e.tx, 8)) + "</td></tr>");
    el.innerHTML = "<h1>" + esc(t("l.check")) + "</h1>" + banner + '<div class="lic-head"><div>' + P.kv(fields) + '</div><div class="qr"><img alt="QR" src="' + esc(qr) + '">' + esc(t("l.scan")) + "</div></div>" +
      "<h2>" + esc(t("l.history")) + '</h2><table class="list" id="lic-history"><thead><tr>' + heads([["l.op"], ["l.version", true], ["l.status"], ["l.reason"], ["l.time"], ["tx", true]]) +
      "</tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  });

  P.txLink((tx) => (tx.body.contract === "licence" && tx.result.code === "ok" && tx.result.data && tx.result.data.id ? { href: "/licences/" + tx.result.data.id, label: t("l.check") } : null));
})();
