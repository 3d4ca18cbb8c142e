(function () {
  // Mounts Stripe's card field (and, where a bank debit is offered at approval, the IBAN field); on
  // submit confirms the chosen SetupIntent in the browser, then posts the form with its id.
  var form = document.querySelector('form[data-secret]');  // approval, or a new payment method
  var stripe = Stripe(form.dataset.pk);
  var elements = stripe.elements();
  var card = elements.create('card');
  card.mount('#card');
  var bank = form.querySelector('input[name=method][value=bank]');
  var iban = null;
  if (bank && document.getElementById('iban')) {
    iban = elements.create('iban', {supportedCountries: ['SEPA']});
    iban.mount('#iban');
    form.querySelectorAll('input[name=method]').forEach(function (radio) {
      radio.addEventListener('change', function () {
        document.getElementById('card-step').hidden = bank.checked;
        document.getElementById('iban-step').hidden = !bank.checked;
      });
    });
  }
  var confirmed = false;
  form.addEventListener('submit', function (event) {
    if (confirmed) return;
    event.preventDefault();
    var byBank = iban !== null && bank.checked;
    var accept = form.querySelector('input[name=consent][data-missing]');  // a new bank account's SEPA mandate
    if (byBank && accept && !accept.checked) {
      document.getElementById('card-errors').textContent = accept.dataset.missing;
      return;
    }
    var done = byBank
      ? stripe.confirmSepaDebitSetup(bank.dataset.bankSecret, {
          payment_method: {sepa_debit: iban, billing_details: {name: bank.dataset.name, email: bank.dataset.email}}
        })
      : stripe.confirmCardSetup(form.dataset.secret, {payment_method: {card: card}});
    done.then(function (result) {
      if (result.error) {
        document.getElementById('card-errors').textContent = result.error.message;
      } else {
        if (byBank) form.querySelector('input[name=setup_intent]').value = bank.dataset.bankId;
        confirmed = true;
        form.submit();
      }
    });
  });
})();
