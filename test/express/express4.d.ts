// Express 4 is installed as the alias package `express4` (no types of its own): typed as Express 5
// here, which is close enough for mounting a router and calling express.json().
declare module 'express4' {
  import express from 'express';
  export default express;
}
