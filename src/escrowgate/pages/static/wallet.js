// Optional: sign the intent's EIP-712 typed data with an injected wallet (EIP-1193).
// Without one, the payer pastes a signature and address; the form works without this.
(function () {
  "use strict";
  var eth = window.ethereum;
  var button = document.getElementById("wallet-sign");
  var status = document.getElementById("wallet-status");
  var typed = document.getElementById("typed-data");
  if (!eth || !button || !typed) { return; }
  button.hidden = false;
  button.addEventListener("click", async function () {
    try {
      status.textContent = "Waiting for your wallet…";
      var accounts = await eth.request({ method: "eth_requestAccounts" });
      var from = accounts[0];
      var signature = await eth.request({
        method: "eth_signTypedData_v4",
        params: [from, typed.textContent],
      });
      document.getElementById("signature").value = signature;
      document.getElementById("payer_address").value = from;
      status.textContent = "Signed by " + from + ". Press “Pay with wallet”.";
      document.querySelector("#wallet-form button[type=submit]").focus();
    } catch (err) {
      status.textContent = "The wallet did not sign: " + (err && err.message ? err.message : err);
    }
  });
})();
