// After a sign-in link: this device is now the link's user. The page's identity lives in
// localStorage (identity.js, session.js), so it is written here before the drop page opens.

const done = document.getElementById("signed-in");
const user = done.dataset.userId;
const drop = done.dataset.dropId;
try {
  localStorage.setItem("drop.userId", user);
  localStorage.setItem("drop.session", user);
} catch {
  // Private mode: the session cookie still signs this device in for the purchase.
}
location.replace(`/drop/${encodeURIComponent(drop)}`);
