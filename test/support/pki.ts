/**
 * PKI material for tests: one CSR (a node's key stays in memory), made once per run —
 * the managers issue any number of certificates for it.
 */
import { createCsr, generateKeyPair } from "../../common/pki/x509.js";

export const TEST_CSR = await createCsr(await generateKeyPair());
