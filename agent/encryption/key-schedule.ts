/** The key schedule is shared with the managers: it lives in common/key-schedule.ts. */
export * from "../../common/key-schedule.js";
