/** The topology advisor's charts: filled in once `POST /topology/simulate` exists. */
export function Advisor() {
  return <p class="empty">The advisor needs romanad's POST /topology/simulate.</p>;
}
