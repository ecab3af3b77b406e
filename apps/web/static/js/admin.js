// The create-drop form: datetimes are in the operator's time zone, so send its offset along
// and label the fields with it; prefill "opens now, closes in an hour".

const tz = document.getElementById("tzOffset");
if (tz) {
  tz.value = String(new Date().getTimezoneOffset());
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? "local time";
  document.querySelectorAll("[data-tz-label]").forEach((el) => {
    el.textContent = `(${zone})`;
  });
  const local = (date) => {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  };
  const start = document.getElementById("registrationStart");
  const end = document.getElementById("registrationEnd");
  if (start && !start.value) start.value = local(new Date());
  if (end && !end.value) end.value = local(new Date(Date.now() + 3600000));
}
