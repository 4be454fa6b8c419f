/* sharebuy pages: small progressive enhancements. Every page works without them. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* Live countdowns: <span class="countdown" data-deadline="ISO" data-done="text"> */
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.deadline) - now) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) {
        el.textContent = el.dataset.done || "0:00";
        el.classList.add("late");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(s);
    });
  }

  /* QR codes: <div class="qr-code" data-qr="text" aria-label="..."> */
  function drawQr(root) {
    if (typeof window.qrcode !== "function") { return; }
    root.querySelectorAll(".qr-code[data-qr]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var qr = window.qrcode(0, "M");
      qr.addData(el.dataset.qr);
      qr.make();
      el.innerHTML = qr.createSvgTag({ cellSize: 6, margin: 2, scalable: true });
      var svg = el.querySelector("svg");
      if (svg) { svg.setAttribute("role", "img"); svg.setAttribute("aria-label", el.getAttribute("aria-label") || ""); }
      el.dataset.drawn = "1";
    });
  }

  /* Scanning the consumer's QR with the camera where the browser can (BarcodeDetector). */
  function setupScanner(root) {
    root.querySelectorAll("[data-scan-target]").forEach(function (button) {
      var box = document.querySelector(button.dataset.scanBox);
      var target = document.querySelector(button.dataset.scanTarget);
      var note = document.querySelector(button.dataset.scanNote);
      var supported = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
      if (!supported) {
        button.hidden = true;
        if (note) { note.hidden = false; }
        return;
      }
      button.hidden = false;
      var stream = null, timer = null;
      function stop() {
        if (timer) { clearInterval(timer); timer = null; }
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
        if (box) { box.hidden = true; box.innerHTML = ""; }
        button.setAttribute("aria-pressed", "false");
      }
      button.addEventListener("click", function () {
        if (stream) { stop(); return; }
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
          stream = s;
          var video = document.createElement("video");
          video.setAttribute("playsinline", "");
          video.muted = true;
          video.srcObject = s;
          box.hidden = false;
          box.appendChild(video);
          video.play();
          button.setAttribute("aria-pressed", "true");
          timer = setInterval(function () {
            detector.detect(video).then(function (codes) {
              if (codes.length) {
                target.value = codes[0].rawValue;
                target.dispatchEvent(new Event("change", { bubbles: true }));
                stop();
                target.focus();
              }
            }).catch(function () {});
          }, 300);
        }).catch(function () {
          stop();
          button.hidden = true;
          if (note) { note.hidden = false; }
        });
      });
    });
  }

  /* The guide-price K-line: <div class="chart" data-kline='{"candles": [...], ...}'> */
  function drawCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".chart[data-kline]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var data = JSON.parse(el.dataset.kline);
      var labels = JSON.parse(el.dataset.labels || "{}");
      var days = data.candles.map(function (c) { return c.day; });
      var ohlc = data.candles.map(function (c) { return [c.open, c.close, c.low, c.high].map(Number); });
      var volume = data.candles.map(function (c) { return Number(c.volume); });
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        aria: { enabled: true },
        tooltip: { trigger: "axis", axisPointer: { type: "cross" } },
        legend: { data: [labels.price || "price", labels.volume || "volume"], top: 0 },
        grid: [{ left: 56, right: 16, top: 32, height: "55%" }, { left: 56, right: 16, top: "75%", height: "15%" }],
        xAxis: [{ type: "category", data: days, boundaryGap: true }, { type: "category", gridIndex: 1, data: days, axisLabel: { show: false } }],
        yAxis: [{ scale: true, name: labels.unit || "" }, { gridIndex: 1, scale: true, splitNumber: 2 }],
        series: [
          { name: labels.price || "price", type: "candlestick", data: ohlc,
            itemStyle: { color: "#b3261e", color0: "#0a6b4d", borderColor: "#b3261e", borderColor0: "#0a6b4d" } },
          { name: labels.volume || "volume", type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: volume, itemStyle: { color: "#8a949f" } }
        ]
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  /* A form is sent once: its button is disabled while it goes (the Idempotency-Key covers the rest). */
  function guardForms(root) {
    root.querySelectorAll("form[method=post]").forEach(function (form) {
      if (form.dataset.guarded) { return; }
      form.dataset.guarded = "1";
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) { setTimeout(function () { button.disabled = true; }, 0); }
      });
    });
  }

  function enhance(root) {
    drawQr(root);
    setupScanner(root);
    drawCharts(root);
    guardForms(root);
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", function (event) { enhance(event.target); });
  /* No inline handlers (the pages' Content-Security-Policy allows scripts from files only):
     <select data-autosubmit> submits its form on change; <a data-back> goes back where it can. */
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) { el.form.submit(); }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) { event.preventDefault(); window.history.back(); }
  });
  window.addEventListener("pageshow", function (event) {
    /* back/forward cache: buttons disabled on submit become usable again */
    if (event.persisted) {
      document.querySelectorAll("button[disabled]").forEach(function (b) { b.disabled = false; });
    }
  });
})();
