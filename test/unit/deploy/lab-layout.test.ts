import assert from "node:assert/strict";
import {
  belongsToLab,
  etcdInitialCluster,
  labLayout,
  managerAddresses,
  parseCount,
} from "../../../deploy/lab/layout.js";

describe("lab layout", () => {
  it("names namespaces so one lab's prefix never matches another's", () => {
    const l = labLayout("a", 3, 1);
    assert.deepEqual(
      l.nodes.map((n) => [n.name, n.role, n.netns, n.address]),
      [
        ["n1", "manager", "sn-a-n1", "100.64.1.1"],
        ["n2", "worker", "sn-a-n2", "100.64.1.2"],
        ["n3", "worker", "sn-a-n3", "100.64.1.3"],
      ],
    );
    assert.ok(belongsToLab("a", "sn-a-n1"));
    assert.ok(belongsToLab("a", "sn-a-n1-ov4096"), "namespaces the node's agent made");
    assert.ok(!belongsToLab("a", "sn-ab-n1"));
    assert.throws(
      () => labLayout("probe", 1, 1),
      /not "probe"/,
      "the probe's scratch namespaces are sn-probe-…",
    );
  });

  it("forms one etcd cluster from the manager nodes", () => {
    const l = labLayout("x", 5, 3);
    assert.equal(
      etcdInitialCluster(l),
      "n1=https://100.64.1.1:2380,n2=https://100.64.1.2:2380,n3=https://100.64.1.3:2380",
    );
    assert.deepEqual(managerAddresses(l), ["100.64.1.1:2377", "100.64.1.2:2377", "100.64.1.3:2377"]);
  });

  it("rejects bad names, counts and more managers than nodes", () => {
    assert.throws(() => labLayout("Bad-Name", 3, 1), /invalid lab name/);
    assert.throws(() => labLayout("ok", 2, 3), /--managers \(3\) cannot exceed --nodes \(2\)/);
    assert.throws(
      () => parseCount("nodes", "abc", 1, 200),
      /--nodes must be a whole number from 1 to 200, got "abc"/,
    );
    assert.throws(() => parseCount("nodes", "0", 1, 200), /got "0"/);
    assert.equal(parseCount("nodes", "25", 1, 200), 25);
  });
});
