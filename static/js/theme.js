/* Runs before the page paints: apply the theme chosen with the toggle (auto, light or dark). */
(function () {
  try {
    var theme = localStorage.getItem("rpd-theme");
    if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
  } catch (e) { /* storage blocked: follow the system */ }
})();
