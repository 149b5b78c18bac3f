// Scanning the owner's car-key QR on the merchant's phone: the camera (getUserMedia) or a photo,
// decoded in the browser by jsQR (served from node_modules); a car-key payload starts with "HK1.".
(function () {
  "use strict";
  var video = document.getElementById("scan-video");
  var canvas = document.getElementById("scan-canvas");
  var status = document.getElementById("scan-status");
  var form = document.getElementById("qr-form");
  var field = document.getElementById("qr-code");
  if (!video || !canvas || !form || typeof jsQR !== "function") { return; }
  var ctx = canvas.getContext("2d", { willReadFrequently: true });
  var stream = null;

  function found(data) {
    if (data && data.indexOf("HK1.") === 0) {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      status.textContent = status.dataset.found || "✓";
      field.value = data;
      form.submit();
      return true;
    }
    return false;
  }

  function decode(source, width, height) {
    canvas.width = width; canvas.height = height;
    ctx.drawImage(source, 0, 0, width, height);
    var image = ctx.getImageData(0, 0, width, height);
    var code = jsQR(image.data, width, height, { inversionAttempts: "dontInvert" });
    return code ? code.data : null;
  }

  function tick() {
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      var data = decode(video, video.videoWidth, video.videoHeight);
      if (data && found(data)) { return; }
    }
    requestAnimationFrame(tick);
  }

  document.getElementById("scan-start").addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "此浏览器无法打开摄像头，请拍照识别或输入 6 位核验码";
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      video.play();
      status.textContent = "请将车主的车钥匙二维码对准取景框";
      requestAnimationFrame(tick);
    }).catch(function () {
      status.textContent = "无法打开摄像头，请拍照识别或输入 6 位核验码";
    });
  });

  document.getElementById("scan-file").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    var img = new Image();
    img.onload = function () {
      var scale = Math.min(1, 1600 / Math.max(img.width, img.height));
      var data = decode(img, Math.round(img.width * scale), Math.round(img.height * scale));
      URL.revokeObjectURL(img.src);
      if (!found(data)) { status.textContent = "未识别到车钥匙二维码，请重试或输入 6 位核验码"; }
    };
    img.src = URL.createObjectURL(file);
  });
}());
