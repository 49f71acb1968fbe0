// pm2: the bot as a process, the same command as deploy/Dockerfile and deploy/autobot.service.
//   pm2 start deploy/ecosystem.config.js && pm2 save
// It runs in the repository root (one folder up from this file) with the project's .venv; the bot reads
// .env there itself. State goes to Redis when STATE_STORE=redis is in .env (a service should set it).
const path = require("path");

const root = path.resolve(__dirname, "..");

module.exports = {
  apps: [
    {
      name: "autobot",
      cwd: root,
      script: path.join(root, ".venv", "bin", "autobot"),
      args: ["live", "--mode", "dry-run"],
      interpreter: "none",          // a console script, not a node file
      autorestart: true,
      min_uptime: "60s",            // a start that dies sooner counts as unstable ...
      max_restarts: 10,             // ... and pm2 gives up after ten of them in a row
      restart_delay: 10000,
      kill_timeout: 30000,          // pm2 stops with SIGINT (the bot's clean shutdown), SIGKILL 30 s later
      out_file: path.join(root, "logs", "pm2-autobot.out.log"),
      error_file: path.join(root, "logs", "pm2-autobot.err.log"),
      merge_logs: true,
      time: true,
      env: {
        PYTHONUNBUFFERED: "1",
      },
    },
  ],
};
