// Polls /api/jobs/<id> for the job box on the inbox and proposal pages until the job ends.
(function () {
  "use strict";
  const box = document.getElementById("job");
  if (!box) return;
  const id = box.dataset.jobId;
  const status = document.getElementById("job-status");
  const message = document.getElementById("job-message");
  const proposal = document.getElementById("job-proposal");
  async function poll() {
    let job;
    try {
      const r = await fetch("/api/jobs/" + encodeURIComponent(id), { headers: { Accept: "application/json" } });
      if (!r.ok) { message.textContent = "cannot read the job (" + r.status + ")"; return; }
      job = await r.json();
    } catch (e) { setTimeout(poll, 2000); return; }
    status.textContent = job.status;
    status.className = "tag " + job.status;
    message.textContent = job.message;
    if (job.proposal_status) {
      proposal.textContent = "proposal " + job.proposal_id + " is " + job.proposal_status;
      const ps = document.getElementById("proposal-status");
      if (ps) { ps.textContent = job.proposal_status; ps.className = "tag " + job.proposal_status; }
    }
    if (job.status === "running") setTimeout(poll, 1000);
  }
  poll();
})();
