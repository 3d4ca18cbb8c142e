(function () {
  // Mounts Stripe's card field; on submit confirms the SetupIntent in the browser, then posts the form.
  var form = document.querySelector('form[data-secret]');  // approval, or a new payment method
  var stripe = Stripe(form.dataset.pk);
  var card = stripe.elements().create('card');
  card.mount('#card');
  var confirmed = false;
  form.addEventListener('submit', function (event) {
    if (confirmed) return;
    event.preventDefault();
    stripe.confirmCardSetup(form.dataset.secret, {payment_method: {card: card}}).then(function (result) {
      if (result.error) {
        document.getElementById('card-errors').textContent = result.error.message;
      } else {
        confirmed = true;
        form.submit();
      }
    });
  });
})();
